mod cancel;
mod kill;
mod output;
mod piped;
mod spawn;
mod stdin;
mod support;
