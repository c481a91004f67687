mod endpoint_down;
mod fake_clis;
