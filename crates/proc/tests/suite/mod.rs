mod cancel;
mod kill;
mod output;
mod spawn;
mod stdin;
mod support;
