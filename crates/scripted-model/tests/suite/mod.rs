mod anthropic;
mod clients;
mod openai;
mod server;
mod support;
