//! `.harnessgym/registry.json`: the artifacts an agent built, by kind and path.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Extra;
use crate::json::is_truthy;
use crate::timefmt::utc_now;

/// The artifact kinds and the `.harnessgym/` directory each lives in.
pub const ARTIFACT_DIRS: [(&str, &str); 8] = [
    ("skill", "skills"),
    ("mcp", "mcp"),
    ("tool", "tools"),
    ("verifier", "verifiers"),
    ("fixture", "fixtures"),
    ("test", "tests"),
    ("docs", "docs"),
    ("script", "scripts"),
];

/// Names of MCP manifests, in lookup order.
pub const MCP_MANIFEST_NAMES: [&str; 3] = ["mcp.json", "server.json", "harnessgym-mcp.json"];

/// One registry entry: an artifact the agent built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// `<kind>:<path>` unless given.
    pub id: String,
    /// Its kind: `skill`, `mcp`, `tool`, … (see [`ARTIFACT_DIRS`]).
    pub kind: String,
    /// Its path relative to the workspace (e.g. `.harnessgym/skills/x/SKILL.md`).
    pub path: String,
    /// What it does, in the agent's words.
    #[serde(default)]
    pub description: String,
    /// The iteration that built it; null when unknown.
    #[serde(default)]
    pub iteration: Option<i64>,
    /// When it was registered.
    #[serde(default)]
    pub created_at: String,
    /// Everything else: unknown keys, `quarantined`/`quarantine`, `qualification`.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

impl Artifact {
    /// A new entry for `kind` at `path`, with id `<kind>:<path>`, registered now.
    pub fn new(kind: &str, path: &str, description: &str, iteration: Option<i64>) -> Self {
        Self {
            id: format!("{kind}:{path}"),
            kind: kind.to_owned(),
            path: path.to_owned(),
            description: description.to_owned(),
            iteration,
            created_at: utc_now(),
            metadata: Map::new(),
        }
    }

    /// Reads one registry entry the way the reference does: `id` defaults to `<kind>:<path>`,
    /// unknown keys move into `metadata` (explicit metadata wins). `kind` and `path` are required.
    pub fn from_value(value: &Value) -> Result<Self, RegistryFormatError> {
        let Value::Object(obj) = value else {
            return Err(RegistryFormatError::EntryNotObject { found: crate::json::kind_name(value) });
        };
        let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_owned);
        // A required string: absent, null or empty is "has no"; another JSON type is named.
        let required = |key: &'static str, missing: RegistryFormatError| match obj.get(key) {
            None | Some(Value::Null) => Err(missing),
            Some(Value::String(s)) if s.is_empty() => Err(missing),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(RegistryFormatError::EntryFieldNotString { key, found: crate::json::kind_name(other) }),
        };
        let kind = required("kind", RegistryFormatError::EntryWithoutKind)?;
        let path = required("path", RegistryFormatError::EntryWithoutPath)?;
        let mut metadata = Map::new();
        for (key, v) in obj {
            if !matches!(key.as_str(), "id" | "kind" | "path" | "description" | "iteration" | "created_at" | "metadata")
            {
                metadata.insert(key.clone(), v.clone());
            }
        }
        if let Some(Value::Object(explicit)) = obj.get("metadata") {
            for (k, v) in explicit {
                metadata.insert(k.clone(), v.clone());
            }
        }
        Ok(Self {
            id: text("id").filter(|i| !i.is_empty()).unwrap_or_else(|| format!("{kind}:{path}")),
            description: text("description").unwrap_or_default(),
            iteration: obj.get("iteration").and_then(Value::as_i64),
            created_at: text("created_at").unwrap_or_else(utc_now),
            metadata,
            kind,
            path,
        })
    }

    /// `metadata.quarantine.status == "quarantined"` or a truthy `metadata.quarantined`.
    pub fn is_quarantined(&self) -> bool {
        let by_status = self
            .metadata
            .get("quarantine")
            .and_then(|q| q.get("status"))
            .and_then(Value::as_str)
            .is_some_and(|s| s == "quarantined");
        by_status || self.metadata.get("quarantined").is_some_and(is_truthy)
    }
}

/// Why a registry document, or one of its entries, cannot be read ([`Registry::from_value`],
/// [`Artifact::from_value`]). The messages are the reference's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryFormatError {
    /// A registry entry that is not a JSON object (`found`: "a string", "an array", ...).
    #[error("artifact entry is {found}, not an object")]
    EntryNotObject {
        /// What the entry is instead.
        found: &'static str,
    },
    /// A registry entry whose `kind` or `path` is not a string (`found`: "a number", ...).
    #[error("artifact entry \"{key}\" is {found}, not a string")]
    EntryFieldNotString {
        /// `kind` or `path`.
        key: &'static str,
        /// What the value is instead.
        found: &'static str,
    },
    /// A registry entry without a non-empty `kind`.
    #[error("artifact entry has no \"kind\"")]
    EntryWithoutKind,
    /// A registry entry without a non-empty `path`.
    #[error("artifact entry has no \"path\"")]
    EntryWithoutPath,
    /// A registry document that is not a JSON object.
    #[error("registry is {found}, not an object")]
    NotObject {
        /// What the document is instead.
        found: &'static str,
    },
    /// A registry whose `artifacts` is neither absent, `null` nor an array.
    #[error("registry \"artifacts\" is {found}, not an array")]
    ArtifactsNotArray {
        /// What `artifacts` is instead.
        found: &'static str,
    },
}

/// An entry that could not be read; kept verbatim so saving the registry loses nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidEntry {
    /// The entry as it was in the file.
    pub raw: Value,
    /// Why it could not be read.
    pub problem: String,
}

/// registry.json: the artifacts an agent built.
#[derive(Clone, Debug, PartialEq)]
pub struct Registry {
    /// Format version (1).
    pub version: i64,
    /// When it was last written.
    pub updated_at: String,
    /// The entries that could be read, in file order.
    pub artifacts: Vec<Artifact>,
    /// The registry's own metadata.
    pub metadata: Map<String, Value>,
    /// Entries that could not be read, written back after the others.
    pub invalid: Vec<InvalidEntry>,
    /// Top-level keys we do not model, kept.
    pub extra: Extra,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            version: 1,
            updated_at: utc_now(),
            artifacts: Vec::new(),
            metadata: Map::new(),
            invalid: Vec::new(),
            extra: Extra::new(),
        }
    }
}

impl Registry {
    /// Reads a registry document. Entries that cannot be read are kept in `invalid` (and written
    /// back on save); a document that is not an object is an error.
    pub fn from_value(value: Value) -> Result<Self, RegistryFormatError> {
        let Value::Object(mut obj) = value else {
            return Err(RegistryFormatError::NotObject { found: crate::json::kind_name(&value) });
        };
        let mut registry = Registry {
            version: obj.remove("version").and_then(|v| v.as_i64()).unwrap_or(1),
            updated_at: obj.remove("updated_at").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(utc_now),
            metadata: match obj.remove("metadata") {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            },
            ..Registry::default()
        };
        match obj.remove("artifacts") {
            None | Some(Value::Null) => {}
            Some(Value::Array(entries)) => {
                for raw in entries {
                    match Artifact::from_value(&raw) {
                        Ok(a) => registry.artifacts.push(a),
                        Err(problem) => registry.invalid.push(InvalidEntry { raw, problem: problem.to_string() }),
                    }
                }
            }
            Some(other) => {
                return Err(RegistryFormatError::ArtifactsNotArray { found: crate::json::kind_name(&other) });
            }
        }
        registry.extra = obj.into_iter().collect();
        Ok(registry)
    }

    /// [`Registry::from_value`] of JSON text, converting each entry as it is parsed instead of
    /// building the whole document as a `Value` first (for a big registry that tree takes several
    /// times the file's size). `None` when the text is not an object whose `artifacts` is absent,
    /// null or an array of valid JSON: then parse it and use [`Registry::from_value`], which says
    /// what is wrong (and reads Python's `NaN`).
    pub fn from_json_str(text: &str) -> Option<Self> {
        serde_json::from_str::<StreamedDocument>(text).ok().map(|d| d.0)
    }

    /// The document to write: the known keys over `extra`, invalid entries after the valid ones.
    pub fn to_value(&self) -> Value {
        let mut obj: Map<String, Value> = self.extra.clone().into_iter().collect();
        let mut artifacts: Vec<Value> =
            self.artifacts.iter().map(|a| serde_json::to_value(a).unwrap_or(Value::Null)).collect();
        artifacts.extend(self.invalid.iter().map(|e| e.raw.clone()));
        obj.insert("version".into(), Value::from(self.version));
        obj.insert("updated_at".into(), Value::from(self.updated_at.clone()));
        obj.insert("artifacts".into(), Value::Array(artifacts));
        obj.insert("metadata".into(), Value::Object(self.metadata.clone()));
        Value::Object(obj)
    }

    /// The registry file's text: the same bytes as `json::to_pretty(&self.to_value())`, written
    /// straight from the entries, without building the document as a `Value` first (for a big
    /// registry that copy, and `to_pretty`'s second one, cost more memory than the registry).
    pub fn to_pretty_json(&self) -> Result<String, crate::TypesError> {
        let mut text = serde_json::to_string_pretty(&SortedDocument(self))
            .map_err(|source| crate::TypesError::Serialize { what: "registry", source })?;
        text.push('\n');
        Ok(text)
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.id == id)
    }

    /// Add-or-update by id: a new id is appended; an existing one takes the new kind and path,
    /// keeps its description if the new one is empty and its iteration if the new one is null,
    /// and merges metadata shallowly.
    pub fn upsert(&mut self, artifact: Artifact) {
        match self.artifacts.iter_mut().find(|a| a.id == artifact.id) {
            None => self.artifacts.push(artifact),
            Some(existing) => {
                existing.kind = artifact.kind;
                existing.path = artifact.path;
                if !artifact.description.is_empty() {
                    existing.description = artifact.description;
                }
                if artifact.iteration.is_some() {
                    existing.iteration = artifact.iteration;
                }
                existing.metadata.extend(artifact.metadata);
            }
        }
    }

    /// Entries not quarantined (what activation projects).
    pub fn visible(&self) -> impl Iterator<Item = &Artifact> {
        self.artifacts.iter().filter(|a| !a.is_quarantined())
    }

    /// Quarantined entries.
    pub fn quarantined(&self) -> impl Iterator<Item = &Artifact> {
        self.artifacts.iter().filter(|a| a.is_quarantined())
    }
}

/// A registry read by [`Registry::from_json_str`].
struct StreamedDocument(Registry);

impl<'de> Deserialize<'de> for StreamedDocument {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DocumentVisitor;
        impl<'de> serde::de::Visitor<'de> for DocumentVisitor {
            type Value = StreamedDocument;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a registry object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut obj = Map::new();
                let mut entries = None;
                // A repeated key: the last one wins, as when parsing into a `Value`.
                while let Some(key) = map.next_key::<String>()? {
                    if key == "artifacts" {
                        entries = map.next_value::<Option<StreamedEntries>>()?;
                    } else {
                        obj.insert(key, map.next_value::<Value>()?);
                    }
                }
                let mut registry = Registry::from_value(Value::Object(obj)).map_err(serde::de::Error::custom)?;
                if let Some(StreamedEntries { artifacts, invalid }) = entries {
                    registry.artifacts = artifacts;
                    registry.invalid = invalid;
                }
                Ok(StreamedDocument(registry))
            }
        }
        deserializer.deserialize_map(DocumentVisitor)
    }
}

/// The `artifacts` array, each entry read by [`Artifact::from_value`] as soon as it is parsed.
struct StreamedEntries {
    artifacts: Vec<Artifact>,
    invalid: Vec<InvalidEntry>,
}

impl<'de> Deserialize<'de> for StreamedEntries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> serde::de::Visitor<'de> for EntriesVisitor {
            type Value = StreamedEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of registry entries")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut entries = StreamedEntries { artifacts: Vec::new(), invalid: Vec::new() };
                while let Some(raw) = seq.next_element::<Value>()? {
                    match Artifact::from_value(&raw) {
                        Ok(a) => entries.artifacts.push(a),
                        Err(problem) => entries.invalid.push(InvalidEntry { raw, problem: problem.to_string() }),
                    }
                }
                Ok(entries)
            }
        }
        deserializer.deserialize_seq(EntriesVisitor)
    }
}

/// [`Registry::to_value`] as it serialises — keys sorted at every depth — without the `Value`.
struct SortedDocument<'a>(&'a Registry);

/// The keys [`Registry::to_value`] writes over `extra`.
const DOCUMENT_KEYS: [&str; 4] = ["artifacts", "metadata", "updated_at", "version"];

impl Serialize for SortedDocument<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        enum Field<'a> {
            Extra(&'a Value),
            Version,
            UpdatedAt,
            Artifacts,
            Metadata,
        }
        let r = self.0;
        let mut fields: Vec<(&str, Field)> = r
            .extra
            .iter()
            .filter(|(k, _)| !DOCUMENT_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), Field::Extra(v)))
            .collect();
        fields.extend([
            ("artifacts", Field::Artifacts),
            ("metadata", Field::Metadata),
            ("updated_at", Field::UpdatedAt),
            ("version", Field::Version),
        ]);
        fields.sort_by(|a, b| a.0.cmp(b.0));
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (key, field) in fields {
            match field {
                Field::Extra(v) => map.serialize_entry(key, v)?,
                Field::Version => map.serialize_entry(key, &r.version)?,
                Field::UpdatedAt => map.serialize_entry(key, &r.updated_at)?,
                Field::Artifacts => map.serialize_entry(key, &SortedEntries(r))?,
                Field::Metadata => map.serialize_entry(key, &r.metadata)?,
            }
        }
        map.end()
    }
}

/// The `artifacts` array: the entries, then the invalid ones verbatim.
struct SortedEntries<'a>(&'a Registry);

impl Serialize for SortedEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let r = self.0;
        let mut seq = serializer.serialize_seq(Some(r.artifacts.len() + r.invalid.len()))?;
        for a in &r.artifacts {
            seq.serialize_element(&SortedArtifact(a))?;
        }
        for e in &r.invalid {
            seq.serialize_element(&e.raw)?;
        }
        seq.end()
    }
}

/// One entry with its keys sorted, as `serde_json::to_value(artifact)` has them.
struct SortedArtifact<'a>(&'a Artifact);

impl Serialize for SortedArtifact<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let a = self.0;
        let mut map = serializer.serialize_map(Some(7))?;
        map.serialize_entry("created_at", &a.created_at)?;
        map.serialize_entry("description", &a.description)?;
        map.serialize_entry("id", &a.id)?;
        map.serialize_entry("iteration", &a.iteration)?;
        map.serialize_entry("kind", &a.kind)?;
        map.serialize_entry("metadata", &a.metadata)?;
        map.serialize_entry("path", &a.path)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const KEYS: &[&str] = &[
        "version",
        "updated_at",
        "metadata",
        "artifacts",
        "id",
        "kind",
        "path",
        "description",
        "iteration",
        "created_at",
        "quarantined",
        "tool",
        "docs",
    ];

    /// Near-valid registries: an object whose `artifacts` is a list of arbitrary entries.
    fn near_registry() -> impl Strategy<Value = Value> {
        (crate::arb::object(KEYS), proptest::collection::vec(crate::arb::json(KEYS), 0..6)).prop_map(
            |(mut top, entries)| {
                top.insert("artifacts".into(), Value::Array(entries));
                Value::Object(top)
            },
        )
    }

    #[test]
    fn registry_round_trips_descriptions() {
        let mut r = Registry::default();
        r.upsert(Artifact::new("tool", ".harnessgym/tools/a.py", "Runs the thing.", Some(1)));
        let back = Registry::from_value(r.to_value()).unwrap();
        assert_eq!(back.artifacts[0].description, "Runs the thing.");
        assert_eq!(back.artifacts, r.artifacts);
    }

    #[test]
    fn entry_without_id_loads_and_extra_keys_go_to_metadata() {
        let r = Registry::from_value(json!({"artifacts": [
            {"kind": "docs", "path": ".harnessgym/docs/brief.md", "name": "brief", "metadata": {"x": 1}}
        ]}))
        .unwrap();
        let a = &r.artifacts[0];
        assert_eq!(a.id, "docs:.harnessgym/docs/brief.md");
        assert_eq!(a.metadata.get("name"), Some(&json!("brief")));
        assert_eq!(a.metadata.get("x"), Some(&json!(1)));
        assert_eq!(r.version, 1);
    }

    #[test]
    fn entry_without_kind_is_kept_verbatim_not_fatal() {
        let raw = json!({"path": ".harnessgym/tools/x.py"});
        let r =
            Registry::from_value(json!({"artifacts": [raw, {"kind": "tool", "path": "p"}], "owner": "me"})).unwrap();
        assert_eq!(r.artifacts.len(), 1);
        assert_eq!(r.invalid.len(), 1);
        assert!(r.invalid[0].problem.contains("kind"));
        let saved = r.to_value();
        assert_eq!(saved["artifacts"][1], raw, "nothing the agent wrote is lost");
        assert_eq!(saved["owner"], json!("me"), "unknown keys are written back");
    }

    #[test]
    fn upsert_keeps_description_and_iteration_when_new_ones_are_empty() {
        let mut r = Registry::default();
        r.upsert(Artifact::new("tool", "p", "first", Some(1)));
        let mut again = Artifact::new("tool", "p", "", None);
        again.metadata.insert("source".into(), json!("x"));
        r.upsert(again);
        assert_eq!(r.artifacts.len(), 1);
        assert_eq!(r.artifacts[0].description, "first");
        assert_eq!(r.artifacts[0].iteration, Some(1));
        assert_eq!(r.artifacts[0].metadata["source"], json!("x"));
    }

    #[test]
    fn to_pretty_json_is_the_text_of_to_value() {
        let mut r = Registry::from_value(json!({
        "zeta": [1, {"b": 2, "a": "é\"\n"}], "alpha": null, "version": 3, "updated_at": "t",
        "metadata": {"y": 1.5, "x": {}}, "artifacts": [
            {"kind": "tool", "path": "p", "iteration": 2, "created_at": "c", "extra": [], "metadata": {"q": true}},
            {"path": "no-kind", "z": 1},
            {"kind": "docs", "path": "d", "description": "Notes ✓"}
        ]}))
        .unwrap();
        r.extra.insert("artifacts".into(), json!("shadowed by the real key"));
        r.upsert(Artifact::new("skill", "s", "", None));
        let expected = crate::json::to_pretty(&r.to_value()).unwrap();
        assert_eq!(r.to_pretty_json().unwrap(), expected);
        let empty = Registry::default();
        assert_eq!(empty.to_pretty_json().unwrap(), crate::json::to_pretty(&empty.to_value()).unwrap());
    }

    #[test]
    fn from_json_str_reads_what_from_value_reads() {
        let same = |text: &str| {
            let streamed = Registry::from_json_str(text).unwrap();
            let general = Registry::from_value(serde_json::from_str(text).unwrap()).unwrap();
            assert_eq!(streamed.artifacts, general.artifacts, "{text}");
            assert_eq!(streamed.invalid, general.invalid, "{text}");
            assert_eq!(streamed.to_value(), general.to_value(), "{text}");
        };
        same(
            r#"{"version": 2, "updated_at": "u", "owner": "me", "metadata": {"m": 1}, "artifacts": [
                {"kind": "tool", "path": "p", "iteration": 2, "created_at": "c", "x": 1, "metadata": {"q": true}},
                {"path": "no-kind"}, 3, {"kind": 1, "path": "k"},
                {"kind": "docs", "path": "d", "description": "Notes"}]}"#,
        );
        same(r#"{"artifacts": null, "version": 1, "updated_at": "u"}"#);
        same(r#"{"version": 1, "updated_at": "u"}"#);
        same(r#"{"artifacts": [{"kind": "a", "path": "p", "created_at": "c"}], "artifacts": [], "updated_at": "u"}"#);
        // What the general path must read (and explain) is left to it.
        for text in [
            r#"{"artifacts": "no"}"#,
            r#"{"artifacts": "no", "artifacts": []}"#,
            "[]",
            r#"{"artifacts": [NaN]}"#,
            "{",
            r#"{"a": 1} x"#,
        ] {
            assert!(Registry::from_json_str(text).is_none(), "{text}");
        }
    }

    #[test]
    fn quarantine_predicate() {
        let mut a = Artifact::new("tool", "p", "", None);
        assert!(!a.is_quarantined());
        a.metadata.insert("quarantine".into(), json!({"status": "quarantined"}));
        assert!(a.is_quarantined());
        a.metadata.clear();
        a.metadata.insert("quarantined".into(), json!(1));
        assert!(a.is_quarantined());
    }

    proptest! {
        /// Arbitrary JSON and near-valid registries: `from_value` is a registry or an error
        /// with a message; every entry is either read or kept in `invalid` with a non-empty
        /// problem; a registry read this way writes back and reads back to the same entries.
        #[test]
        fn from_value_is_a_registry_or_a_clear_error(
            any_value in crate::arb::json(KEYS),
            near in near_registry(),
        ) {
            for value in [any_value, near] {
                let entries = match value.get("artifacts") {
                    Some(Value::Array(a)) => Some(a.len()),
                    _ => None,
                };
                match Registry::from_value(value) {
                    Ok(r) => {
                        if let Some(n) = entries {
                            prop_assert_eq!(r.artifacts.len() + r.invalid.len(), n);
                        }
                        prop_assert!(r.invalid.iter().all(|i| !i.problem.is_empty()));
                        let again = Registry::from_value(r.to_value());
                        prop_assert!(again.is_ok());
                        if let Ok(again) = again {
                            prop_assert_eq!(again.artifacts.len(), r.artifacts.len());
                        }
                    }
                    Err(e) => prop_assert!(!e.to_string().is_empty()),
                }
            }
        }
    }
}
