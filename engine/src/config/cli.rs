//! The command line: `httpcap [run | check-config | health] [OPTIONS]`.
//! Every subcommand takes the same options (`Config`), before or after
//! its name, from flags or environment.
//!
//! An environment variable set to the empty string (`NAME=`, as compose
//! files and `.env` files often write an unset value) counts as unset, so
//! its default applies. clap 4 has no setting for that (`Arg::env` takes
//! whatever the variable holds), so `parse` drops such variables from the
//! command it parses. Where README documents that the empty string turns
//! something off, it keeps that meaning: see `EMPTY_TURNS_OFF`.

use clap::{Arg, CommandFactory, FromArgMatches, Parser, Subcommand};

use super::{config_exit, one_line, Config};

/// Variables whose empty value is a setting of its own: the filter lists
/// and the BPF filter (empty: no filter) and the health file (empty: none).
pub const EMPTY_TURNS_OFF: &[&str] = &[
    "INPUT_RAW_BPF_FILTER",
    "FILTER_BLOCK_EXTS",
    "FILTER_BLOCK_CTYPES",
    "FILTER_BLOCK_ACCEPT",
    "FILTER_BLOCK_MULTIPART",
    "HEALTH_FILE",
];

#[derive(Parser, Debug)]
#[command(
    name = "httpcap",
    version,
    about = "Passive HTTP capture: packets in, one JSON record per request/response pair out",
    after_help = "Every option is also an environment variable (shown as [env: ...]); a flag wins. \
An empty variable counts as unset, except where its help says that empty turns something off.",
    mut_args(options_anywhere)
)]
pub struct Cli {
    #[command(subcommand)]
    pub mode: Option<Mode>,

    #[command(flatten)]
    pub config: Config,
}

/// What the process does with its configuration.
#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Capture and write records (what httpcap does without a subcommand).
    Run,
    /// Parse and validate the configuration, print the effective command
    /// line (every option, the password as ***) on stdout and exit 0.
    CheckConfig,
    /// Judge the running process from HEALTH_FILE: print one line, exit 0
    /// when healthy and 1 when not (the container's health check).
    Health,
}

/// The options are global: `httpcap check-config --ipip` and
/// `httpcap --ipip check-config` mean the same.
fn options_anywhere(arg: Arg) -> Arg {
    arg.global(true)
}

/// An `Arg` whose variable is set but empty, unless that means "off",
/// loses its variable for this parse: clap then applies the default.
fn empty_env_is_unset(arg: Arg) -> Arg {
    let empty = arg.get_env().is_some_and(|name| {
        !EMPTY_TURNS_OFF.iter().any(|keep| name == *keep)
            && std::env::var_os(name).is_some_and(|v| v.is_empty())
    });
    if empty {
        arg.env(None::<&str>)
    } else {
        arg
    }
}

impl Cli {
    /// Parses flags and environment (`args` starts with the program name).
    pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut cmd = Cli::command().mut_args(empty_env_is_unset);
        let mut matches = cmd.try_get_matches_from_mut(args)?;
        Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut cmd))
    }

    /// As `parse`, then validates; on a bad value prints one line naming
    /// the variable, the value and the accepted form, then exits with
    /// code 2. `--help`, `help` and `--version` print and exit 0.
    pub fn parse_or_exit<I, T>(args: I) -> Cli
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        match Cli::parse(args) {
            Ok(cli) => match cli.config.validate() {
                Ok(()) => cli,
                Err(e) => config_exit(&e.to_string()),
            },
            Err(e) => match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
                _ => config_exit(&one_line(&e)),
            },
        }
    }

    /// The subcommand given, `run` when none was.
    pub fn mode(&self) -> Mode {
        self.mode.unwrap_or(Mode::Run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_go_before_or_after_the_subcommand() {
        for args in [
            ["httpcap", "check-config", "--processing-workers=7"],
            ["httpcap", "--processing-workers=7", "check-config"],
        ] {
            let cli = Cli::parse(args).unwrap();
            assert_eq!(cli.mode(), Mode::CheckConfig);
            assert_eq!(cli.config.processing_workers, 7);
        }
        let cli = Cli::parse(["httpcap", "--processing-workers=2"]).unwrap();
        assert_eq!(cli.mode(), Mode::Run);
        assert_eq!(cli.config.processing_workers, 2);
    }

    #[test]
    fn every_subcommand_is_in_the_help() {
        let help = Cli::command().render_help().to_string();
        for sub in ["run", "check-config", "health", "help"] {
            assert!(
                help.lines().any(|l| l.trim_start().starts_with(sub)),
                "{sub} missing from:\n{help}"
            );
        }
    }

    #[test]
    fn the_keep_list_names_real_variables() {
        let names = Config::env_names();
        for keep in EMPTY_TURNS_OFF {
            assert!(names.iter().any(|n| n == keep), "{keep}");
        }
    }
}
