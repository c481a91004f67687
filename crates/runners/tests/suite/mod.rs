mod fake_clis;
