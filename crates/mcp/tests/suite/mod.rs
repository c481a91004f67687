mod client;
mod probe;
mod proxy;
mod support;
