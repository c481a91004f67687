mod client;
mod mcp_call;
mod probe;
mod proxy;
mod support;
