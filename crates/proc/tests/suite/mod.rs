mod cancel;
mod kill;
mod output;
mod piped;
mod remote;
mod spawn;
mod stdin;
mod support;
