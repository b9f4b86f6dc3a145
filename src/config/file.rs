//! Reads `--config FILE` and merges it under the flags: every top-level key
//! is a flag's name in snake_case, taken only where neither the command
//! line nor the environment gave that flag (clap's value source tells).
//! The flags themselves are the schema: a key is known when a flag has that
//! name, and its value goes through the flag's own parser, so a flag added
//! later is a file key without a second list to keep in step.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser};

use super::{Cli, ConfigError, homes};

/// Why the options could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A bad flag or variable, or `--help`/`--version` (clap prints those).
    #[error(transparent)]
    Args(#[from] clap::Error),
    /// The config file is unreadable or says something that cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl From<FileError> for LoadError {
    fn from(error: FileError) -> LoadError {
        LoadError::Config(ConfigError::File(error))
    }
}

/// One thing wrong with the config file, named the way its reader finds
/// it: the file, the home (where there is one) and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileError {
    /// The file as given to `--config`.
    pub file: PathBuf,
    /// The `[[homes]]` entry's id, when the error is inside one that has one.
    pub home: Option<String>,
    /// The key's path (`tariff.windows[0].to`), or where in the file the
    /// text stops being TOML.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some(home) = &self.home {
            write!(f, "home {home:?}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        // One line, whatever the parser's message holds.
        f.write_str(&self.message.replace('\n', " "))
    }
}

/// A key that is wrong, before the file's name is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyError {
    pub home: Option<String>,
    pub key: String,
    pub message: String,
}

impl KeyError {
    /// A wrong key outside any home, or inside the home with id `home`.
    pub fn new(home: Option<&str>, key: impl Into<String>, message: impl Into<String>) -> KeyError {
        KeyError {
            home: home.map(str::to_string),
            key: key.into(),
            message: message.into(),
        }
    }

    fn in_file(self, file: &Path) -> FileError {
        FileError {
            file: file.to_path_buf(),
            home: self.home,
            key: Some(self.key),
            message: self.message,
        }
    }
}

impl Cli {
    /// Reads the command line, the environment and the config file (if
    /// `--config` or `PRICEPOOL_CONFIG` names one), as the binary does.
    pub fn try_load() -> Result<Cli, LoadError> {
        Cli::try_load_from(std::env::args_os())
    }

    /// [`Cli::try_load`] with these arguments (the program name first).
    pub fn try_load_from<I, T>(args: I) -> Result<Cli, LoadError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let command = Cli::command();
        let matches = command.clone().try_get_matches_from(&args)?;
        let Some(file) = matches.get_one::<PathBuf>("config").cloned() else {
            return Ok(Cli::from_arg_matches(&matches)?);
        };
        let mut table = read(&file)?;
        let declared = table.remove("homes");
        let from_file = file_args(&command, &matches, table).map_err(|e| e.in_file(&file))?;
        // Before any subcommand, whose arguments these are not.
        let at = args.len().min(1);
        args.splice(at..at, from_file);
        let mut cli = Cli::try_parse_from(args)?;
        cli.config.homes = homes::declare(declared, &cli.config).map_err(|e| e.in_file(&file))?;
        Ok(cli)
    }
}

/// The file as a TOML table; unreadable or not TOML is one [`FileError`].
fn read(file: &Path) -> Result<toml::Table, FileError> {
    let error = |key: Option<String>, message: String| FileError {
        file: file.to_path_buf(),
        home: None,
        key,
        message,
    };
    let text =
        std::fs::read_to_string(file).map_err(|e| error(None, format!("cannot be read: {e}")))?;
    toml::from_str(&text).map_err(|e: toml::de::Error| {
        let place = e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}")
        });
        error(place, format!("not TOML: {}", e.message()))
    })
}

/// The file's top-level keys as arguments, for the flags neither the
/// command line nor the environment gave; each value checked by its flag's parser.
fn file_args(
    command: &clap::Command,
    matches: &ArgMatches,
    table: toml::Table,
) -> Result<Vec<OsString>, KeyError> {
    let mut args = Vec::new();
    for (key, value) in table {
        let unknown = || {
            KeyError::new(
                None,
                &key,
                "unknown key (the keys are the flags' names in snake_case, and [[homes]])",
            )
        };
        if key == "config" {
            return Err(KeyError::new(
                None,
                &key,
                "a config file cannot name another",
            ));
        }
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_id() == key.as_str() && arg.get_long().is_some())
            .filter(|arg| !matches!(arg.get_id().as_str(), "help" | "version"))
            .ok_or_else(unknown)?;
        let long = arg.get_long().unwrap_or_default();
        if matches!(
            matches.value_source(&key),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            match value {
                toml::Value::Boolean(true) => args.push(format!("--{long}").into()),
                toml::Value::Boolean(false) => {}
                other => return Err(KeyError::new(None, &key, expected("true or false", &other))),
            }
            continue;
        }
        let text = scalar(&value).ok_or_else(|| {
            KeyError::new(None, &key, expected("a string, number or boolean", &value))
        })?;
        let flag: OsString = format!("--{long}={text}").into();
        // The flag alone through its own parser (clap keeps parsers private).
        clap::Command::new("pricepool")
            .arg(arg.clone())
            .try_get_matches_from([OsStr::new("pricepool"), &flag])
            .map_err(|e| KeyError::new(None, &key, invalid(arg, &value, &e)))?;
        args.push(flag);
    }
    Ok(args)
}

/// A TOML scalar as the text a flag would be given.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(x) => Some(x.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(t) => Some(t.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// "expected …, found …" for a value of the wrong TOML type.
pub(super) fn expected(what: &str, found: &toml::Value) -> String {
    match scalar(found) {
        Some(_) => format!(
            "expected {what}, found {} {}",
            found.type_str(),
            shown(found)
        ),
        None => format!("expected {what}, found {}", found.type_str()),
    }
}

/// A scalar as written in TOML (strings quoted), shortened.
fn shown(value: &toml::Value) -> String {
    let text: String = scalar(value).unwrap_or_default().chars().take(64).collect();
    match value {
        toml::Value::String(_) => format!("{text:?}"),
        _ => text,
    }
}

/// Why a flag's parser refused a file value: its own reason, or the choices.
fn invalid(arg: &clap::Arg, value: &toml::Value, error: &clap::Error) -> String {
    use std::error::Error as _;
    if let Some(reason) = error.source() {
        return format!("{} is not valid: {reason}", shown(value));
    }
    let choices: Vec<String> = arg
        .get_possible_values()
        .iter()
        .map(|v| v.get_name().to_string())
        .collect();
    if choices.is_empty() {
        format!("{} is not valid", shown(value))
    } else {
        format!("{} is not one of {}", shown(value), choices.join(", "))
    }
}
