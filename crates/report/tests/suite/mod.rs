mod browser;
mod compare;
mod run;
mod support;
