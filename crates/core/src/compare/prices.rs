//! `--prices FILE`: token prices for runners that report tokens but no cost (Codex).
//!
//! ```toml
//! # US dollars per million tokens
//! [models."gpt-5.1-codex"]
//! input = 1.25
//! cached_input = 0.125
//! output = 10.0
//!
//! [models.default]   # any model not listed (also when no model was named)
//! input = 2.0
//! output = 8.0
//! ```
//!
//! `cached_input` defaults to `input`. Cached tokens are part of the input tokens (OpenAI's
//! meaning): they are billed at `cached_input`, the rest at `input`.

use std::collections::BTreeMap;

use camino::Utf8Path;
use harnessgym_types::runner::Usage;
use serde::{Deserialize, Serialize};

/// One model's prices, US dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Input tokens.
    pub input: f64,
    /// Input tokens served from the prompt cache.
    pub cached_input: f64,
    /// Output tokens.
    pub output: f64,
}

/// Prices per model name; `default` applies to the others.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    /// Model name → prices.
    pub models: BTreeMap<String, ModelPrice>,
}

/// Why a prices file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "prices file {path}: {reason}; expected [models.\"<model>\"] tables with input, cached_input and output in USD per million tokens"
)]
pub struct PricesError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl Prices {
    /// Reads and checks a prices file.
    pub fn load(path: &Utf8Path) -> Result<Self, PricesError> {
        let err = |reason: String| PricesError { path: path.to_string(), reason };
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(1024 * 1024 + 1).read_to_end(&mut bytes))
            .map_err(|e| err(e.to_string()))?;
        if bytes.len() > 1024 * 1024 {
            return Err(err("larger than 1 MiB".into()));
        }
        let text = String::from_utf8(bytes).map_err(|_| err("not UTF-8".into()))?;
        Self::parse(&text).map_err(err)
    }

    /// Parses the TOML text of a prices file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| e.message().to_owned())?;
        let Some(models) = doc.get("models").and_then(|m| m.as_table_like()) else {
            return Err("no [models] table".into());
        };
        let mut prices = Prices::default();
        for (name, table) in models.iter() {
            let table = table.as_table_like().ok_or_else(|| format!("models.{name} is not a table"))?;
            let number = |key: &str| -> Result<Option<f64>, String> {
                match table.get(key) {
                    None => Ok(None),
                    Some(item) => {
                        let value = item.as_float().or_else(|| item.as_integer().map(|i| i as f64));
                        match value {
                            Some(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
                            _ => Err(format!("models.{name}.{key} must be a number >= 0")),
                        }
                    }
                }
            };
            for (key, _) in table.iter() {
                if !matches!(key, "input" | "cached_input" | "output") {
                    return Err(format!("models.{name}.{key} is not a price (input, cached_input, output)"));
                }
            }
            let input = number("input")?.ok_or_else(|| format!("models.{name} has no input price"))?;
            let output = number("output")?.ok_or_else(|| format!("models.{name} has no output price"))?;
            let cached_input = number("cached_input")?.unwrap_or(input);
            prices.models.insert(name.to_owned(), ModelPrice { input, cached_input, output });
        }
        if prices.models.is_empty() {
            return Err("[models] lists no model".into());
        }
        Ok(prices)
    }

    /// The cost of `usage` for `model` (`default` when it is not listed); `None` when no price
    /// applies or a count is unknown.
    pub fn cost(&self, model: Option<&str>, usage: &Usage) -> Option<f64> {
        let price = model.and_then(|m| self.models.get(m)).or_else(|| self.models.get("default"))?;
        let input = usage.input_tokens? as f64;
        let cached = (usage.cached_input_tokens.unwrap_or(0) as f64).min(input);
        let output = usage.output_tokens? as f64;
        Some(((input - cached) * price.input + cached * price.cached_input + output * price.output) / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prices_file_prices_tokens_per_million_and_falls_back_to_default() {
        let prices = Prices::parse(
            "[models.\"gpt-x\"]\ninput = 2.0\ncached_input = 0.5\noutput = 10\n[models.default]\ninput = 1\noutput = 1\n",
        )
        .unwrap();
        let usage =
            Usage { input_tokens: Some(1_000_000), cached_input_tokens: Some(400_000), output_tokens: Some(100_000) };
        let cost = prices.cost(Some("gpt-x"), &usage).unwrap();
        assert!((cost - (0.6 * 2.0 + 0.4 * 0.5 + 0.1 * 10.0)).abs() < 1e-12, "{cost}");
        assert!((prices.cost(Some("other"), &usage).unwrap() - 1.1).abs() < 1e-12);
        assert!((prices.cost(None, &usage).unwrap() - 1.1).abs() < 1e-12);
        let unknown = Usage { input_tokens: None, ..usage };
        assert_eq!(prices.cost(Some("gpt-x"), &unknown), None, "unknown tokens are an unknown cost, not 0");
    }

    #[test]
    fn bad_prices_are_refused_naming_the_key() {
        for (text, needle) in [
            ("", "no [models] table"),
            ("[models.a]\ninput = 1\n", "no output price"),
            ("[models.a]\ninput = -1\noutput = 1\n", "models.a.input must be a number >= 0"),
            ("[models.a]\ninput = 1\noutput = 1\nprompt = 3\n", "models.a.prompt is not a price"),
            ("[models]\n", "lists no model"),
            ("models = [", ""),
        ] {
            let err = Prices::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
        let only_default = Prices::parse("[models.default]\ninput = 1\noutput = 2\n").unwrap();
        assert!(only_default.models.contains_key("default"));
    }
}
