mod activate;
mod framing;
mod support;
