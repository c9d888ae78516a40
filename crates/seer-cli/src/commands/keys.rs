//! `seer keys`: create, list and revoke API keys.

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::args::*;

/// `seer keys`.
pub(crate) fn keys_cmd(a: &KeysArgs) -> Result<ExitCode> {
    use seer_store::{Scope, Store};
    let store = seer_store::SqliteStore::open(&a.store, |_| {})?;
    match &a.action {
        KeysAction::Create { scope, name, rate } => {
            let Some(scope) = Scope::parse(scope) else {
                bail!("--scope {scope:?}: expected read, write or admin");
            };
            let (info, token) = store.create_key(name, scope, *rate)?;
            eprintln!(
                "created key {} ({} scope, {} requests/s); it is shown only now:",
                info.id,
                scope.name(),
                info.rate
            );
            println!("{token}");
        }
        KeysAction::List => {
            for k in store.list_keys()? {
                println!(
                    "{}  {:<6} {:>8.1}/s  {}{}",
                    k.id,
                    k.scope.name(),
                    k.rate,
                    if k.name.is_empty() { "-" } else { &k.name },
                    if k.revoked { "  (revoked)" } else { "" }
                );
            }
        }
        KeysAction::Revoke { id } => {
            if !store.revoke_key(id)? {
                bail!("no key with id {id:?} in {}", a.store.display());
            }
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
