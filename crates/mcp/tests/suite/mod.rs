mod client;
mod probe;
mod support;
