//! `--bundle-sandbox` / `--bundle-network` resolved: which sandbox every process started from a
//! bundle gets (MCP servers — through `harnessgym mcp-proxy` —, smoke probes, self-tests), and
//! with or without the network. The mechanics (the bwrap command line, the probe) are
//! `harnessgym_proc::sandbox`.

use camino::Utf8Path;
use harnessgym_proc::sandbox::{Confinement, Sandbox, find_bwrap, probe};
use harnessgym_types::options::{BundleNetwork, BundleSandbox, SandboxOptions};
use serde_json::{Value, json};

/// Why the sandbox asked for cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// `--bundle-sandbox bwrap`, and bubblewrap is missing or does not work here.
    #[error(
        "--bundle-sandbox bwrap: {0}; install bubblewrap (the bubblewrap package), point HARNESSGYM_BWRAP at it, or \
         pass --bundle-sandbox auto or none"
    )]
    Unavailable(String),
    /// `--bundle-network off` without a sandbox to enforce it.
    #[error(
        "--bundle-network off needs the bundle sandbox, and there is none ({0}): install bubblewrap or drop --bundle-network off"
    )]
    NetworkOffWithoutSandbox(String),
}

/// The resolved bundle sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxSetting {
    /// What was asked for (`auto`, `bwrap`, `none`).
    pub requested: BundleSandbox,
    /// What bundle processes get.
    pub sandbox: Sandbox,
    /// The network of bundle processes unless their manifest says `"network": false`.
    pub network: bool,
    /// Why `auto` gave no sandbox (bubblewrap missing or not working), said once by the caller.
    pub note: Option<String>,
}

impl Default for SandboxSetting {
    /// No sandbox, the network on: what `--bundle-sandbox none` gives.
    fn default() -> Self {
        Self::off()
    }
}

impl SandboxSetting {
    /// No sandbox, the network on (`--bundle-sandbox none`).
    pub fn off() -> Self {
        Self { requested: BundleSandbox::Off, sandbox: Sandbox::Off, network: true, note: None }
    }

    /// Resolves the options: `auto` probes bubblewrap once (`bwrap` found on `PATH` or named by
    /// `HARNESSGYM_BWRAP`, then `bwrap … true` with every flag the sandbox uses) and falls back to
    /// none with a [`SandboxSetting::note`]; `bwrap` fails instead of falling back.
    pub async fn resolve(options: SandboxOptions) -> Result<Self, SandboxError> {
        let network = options.network == BundleNetwork::On;
        let found = match options.mode {
            BundleSandbox::Off => Err("--bundle-sandbox none".to_owned()),
            BundleSandbox::Auto | BundleSandbox::Bwrap => match find_bwrap() {
                Err(why) => Err(why),
                Ok(bwrap) => probe(&bwrap).await.map(|()| bwrap),
            },
        };
        let (sandbox, note) = match (found, options.mode) {
            (Ok(bwrap), _) => (Sandbox::Bwrap(bwrap), None),
            (Err(why), BundleSandbox::Bwrap) => return Err(SandboxError::Unavailable(why)),
            (Err(why), BundleSandbox::Auto) => (Sandbox::Off, Some(why)),
            (Err(_), BundleSandbox::Off) => (Sandbox::Off, None),
        };
        if !network && sandbox == Sandbox::Off {
            let why = note.unwrap_or_else(|| "--bundle-sandbox none".to_owned());
            return Err(SandboxError::NetworkOffWithoutSandbox(why));
        }
        Ok(Self { requested: options.mode, sandbox, network, note })
    }

    /// The line a command prints once when `auto` found no working bubblewrap.
    pub fn fallback_line(&self) -> Option<String> {
        self.note.as_ref().map(|why| {
            format!(
                "harnessgym: bundle sandbox: none ({why}); MCP servers and self-tests of the bundle run unconfined \
                 (install bubblewrap, or pass --bundle-sandbox none to silence this)"
            )
        })
    }

    /// Whether a server whose manifest says `network` keeps the network: a manifest can cut it,
    /// not restore it; without a sandbox nothing can cut it (activation says so in an advisory).
    pub fn network_for(&self, manifest: Option<bool>) -> bool {
        self.sandbox == Sandbox::Off || (self.network && manifest != Some(false))
    }

    /// `program args` as a bundle process starts: in the sandbox, `root` writable, in `cwd`.
    pub fn wrap(
        &self,
        program: String,
        args: Vec<String>,
        root: &Utf8Path,
        cwd: &Utf8Path,
        network: bool,
    ) -> (String, Vec<String>) {
        self.sandbox.wrap(program, args, Confinement { root, cwd, network })
    }

    /// `--bundle-sandbox <bwrap|none> --bundle-network <on|off>` for an `mcp-proxy` launch line:
    /// the proxy applies the sandbox this activation resolved and tested with.
    pub fn proxy_flags(&self, network: bool) -> Vec<String> {
        proxy_flags(self.sandbox.mode(), network)
    }

    /// The activation report's `bundle_sandbox` block.
    pub fn report(&self) -> Value {
        let mut block = json!({
            "requested": self.requested.as_str(),
            "mode": self.sandbox.mode(),
            "network": if self.network { "on" } else { "off" },
        });
        if let Sandbox::Bwrap(bwrap) = &self.sandbox {
            block["bwrap"] = json!(bwrap);
        }
        if let Some(note) = &self.note {
            block["note"] = json!(note);
        }
        block
    }
}

/// `--bundle-sandbox <mode> --bundle-network <on|off>`.
pub fn proxy_flags(mode: &str, network: bool) -> Vec<String> {
    vec![
        "--bundle-sandbox".to_owned(),
        mode.to_owned(),
        "--bundle-network".to_owned(),
        if network { "on" } else { "off" }.to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn none_is_off_without_a_probe_and_network_off_needs_a_sandbox() {
        let none = SandboxOptions { mode: BundleSandbox::Off, network: BundleNetwork::On };
        let setting = SandboxSetting::resolve(none).await.unwrap();
        assert_eq!(setting, SandboxSetting::off());
        assert_eq!(setting.fallback_line(), None);
        assert_eq!(setting.report(), json!({"requested": "none", "mode": "none", "network": "on"}));
        let cut = SandboxOptions { mode: BundleSandbox::Off, network: BundleNetwork::Off };
        let err = SandboxSetting::resolve(cut).await.unwrap_err();
        assert!(err.to_string().starts_with("--bundle-network off needs the bundle sandbox"), "{err}");
    }

    #[test]
    fn a_manifest_can_cut_the_network_but_not_restore_it() {
        let bwrap = Sandbox::Bwrap("/usr/bin/bwrap".into());
        let on = SandboxSetting { sandbox: bwrap.clone(), ..SandboxSetting::off() };
        assert!(on.network_for(None) && on.network_for(Some(true)));
        assert!(!on.network_for(Some(false)));
        let off = SandboxSetting { network: false, sandbox: bwrap, ..SandboxSetting::off() };
        assert!(!off.network_for(Some(true)));
        assert_eq!(off.proxy_flags(false), ["--bundle-sandbox", "bwrap", "--bundle-network", "off"]);
        // Without a sandbox nothing is cut, and the launch line says so.
        assert!(SandboxSetting::off().network_for(Some(false)));
    }
}
