mod analyze;
mod invariants;
mod scipy;
mod scipy_values;
mod support;
