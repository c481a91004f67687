mod activate;
mod confinement;
mod framing;
mod support;
