//! The coordinator's config-file layer (DESIGN §9: defaults < config file < `WILDCHAT__`
//! environment < flags). Each key of the TOML file named by `--config FILE` (or
//! `WILDCHAT__CONFIG`) is the lowercase name of a flag's environment variable without its
//! prefix (`store`, `queue`, `workers`, `pii_policy`, ...); the file supplies that variable when
//! the environment does not, so the environment and then the flags still win.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The environment prefix every coordinator setting shares.
pub const ENV_PREFIX: &str = "WILDCHAT__";
/// The variable that names the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "WILDCHAT__CONFIG";

/// The file `--config FILE` / `--config=FILE` names in `args`, else `WILDCHAT__CONFIG`.
pub fn config_path(args: &[OsString], environment_value: Option<OsString>) -> Option<PathBuf> {
    let mut iterator = args.iter().skip(1);
    while let Some(argument) = iterator.next() {
        let Some(text) = argument.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == "--config" {
            return iterator.next().map(PathBuf::from);
        }
        if let Some(value) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(value));
        }
    }
    environment_value.filter(|value| !value.is_empty()).map(PathBuf::from)
}

/// Every `WILDCHAT__` variable a flag of `command` (or of its subcommands) reads.
pub fn known_variables(command: &clap::Command) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    collect_variables(command, &mut names);
    names
}

fn collect_variables(command: &clap::Command, names: &mut BTreeSet<String>) {
    for argument in command.get_arguments() {
        if let Some(name) = argument.get_env().and_then(|name| name.to_str()) {
            if name.starts_with(ENV_PREFIX) && name != CONFIG_ENV {
                names.insert(name.to_string());
            }
        }
    }
    for subcommand in command.get_subcommands() {
        collect_variables(subcommand, names);
    }
}

/// Reads the file into `(variable, value)` pairs: strings as they are, numbers and booleans
/// as written, arrays joined with commas (the flags that repeat also split on commas). An
/// unknown key or a nested table is an error that names the file and the key.
pub fn read_config_file(path: &Path, known: &BTreeSet<String>) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the config file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("parsing the config file {}", path.display()))?;
    let mut pairs = Vec::new();
    for (key, value) in table {
        let variable = format!("{ENV_PREFIX}{}", key.to_uppercase());
        if !known.contains(&variable) {
            let keys: Vec<String> = known
                .iter()
                .map(|name| name.trim_start_matches(ENV_PREFIX).to_lowercase())
                .collect();
            bail!(
                "config file {}: unknown key {key:?}; the keys are {}",
                path.display(),
                keys.join(", ")
            );
        }
        let rendered = render_value(&value).with_context(|| format!("config file {}: key {key:?}", path.display()))?;
        pairs.push((variable, rendered));
    }
    Ok(pairs)
}

fn render_value(value: &toml::Value) -> anyhow::Result<String> {
    Ok(match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Integer(number) => number.to_string(),
        toml::Value::Float(number) => number.to_string(),
        toml::Value::Boolean(flag) => flag.to_string(),
        toml::Value::Datetime(moment) => moment.to_string(),
        toml::Value::Array(items) => items
            .iter()
            .map(render_value)
            .collect::<anyhow::Result<Vec<_>>>()?
            .join(","),
        toml::Value::Table(_) => bail!("a table is not a setting; use key = value"),
    })
}

/// Applies the file layer to this process's environment before the flags are parsed: each
/// pair whose variable the environment does not set is set. Call it before any thread starts.
pub fn apply(command: &clap::Command, args: &[OsString]) -> anyhow::Result<()> {
    let Some(path) = config_path(args, std::env::var_os(CONFIG_ENV)) else {
        return Ok(());
    };
    for (variable, value) in read_config_file(&path, &known_variables(command))? {
        if std::env::var_os(&variable).is_none() {
            std::env::set_var(variable, value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(items: &[&str]) -> Vec<OsString> {
        items.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_config_flag_wins_over_the_environment_variable() {
        let from_flag = config_path(
            &args(&["coordinator", "run", "--config", "a.toml"]),
            Some("b.toml".into()),
        );
        assert_eq!(from_flag, Some(PathBuf::from("a.toml")));
        let inline = config_path(&args(&["coordinator", "--config=c.toml", "status"]), None);
        assert_eq!(inline, Some(PathBuf::from("c.toml")));
        assert_eq!(
            config_path(&args(&["coordinator", "status"]), Some("b.toml".into())),
            Some(PathBuf::from("b.toml"))
        );
        assert_eq!(config_path(&args(&["coordinator", "status"]), Some("".into())), None);
        assert_eq!(config_path(&args(&["coordinator", "--", "--config", "x"]), None), None);
    }

    #[test]
    fn keys_become_variables_and_unknown_keys_are_named() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("coordinator.toml");
        let known: BTreeSet<String> = [
            "WILDCHAT__STORE",
            "WILDCHAT__WORKERS",
            "WILDCHAT__EXCLUDE",
            "WILDCHAT__QUIET",
        ]
        .iter()
        .map(|name| name.to_string())
        .collect();
        std::fs::write(
            &path,
            "store = \"s3://bucket/prefix\"\nworkers = 3\nexclude = [\"a=a.txt\", \"b=b.txt\"]\nquiet = true\n",
        )
        .unwrap();
        let mut pairs = read_config_file(&path, &known).unwrap();
        pairs.sort();
        assert_eq!(
            pairs,
            vec![
                ("WILDCHAT__EXCLUDE".to_string(), "a=a.txt,b=b.txt".to_string()),
                ("WILDCHAT__QUIET".to_string(), "true".to_string()),
                ("WILDCHAT__STORE".to_string(), "s3://bucket/prefix".to_string()),
                ("WILDCHAT__WORKERS".to_string(), "3".to_string()),
            ]
        );
        std::fs::write(&path, "stor = \"typo\"\n").unwrap();
        let error = format!("{:#}", read_config_file(&path, &known).unwrap_err());
        assert!(
            error.contains("unknown key \"stor\"") && error.contains("store"),
            "{error}"
        );
        std::fs::write(&path, "[store]\nx = 1\n").unwrap();
        let error = format!("{:#}", read_config_file(&path, &known).unwrap_err());
        assert!(error.contains("a table is not a setting"), "{error}");
    }
}
