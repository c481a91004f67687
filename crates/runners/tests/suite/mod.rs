mod endpoint_down;
mod fake_clis;
mod remote;
