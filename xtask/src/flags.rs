//! The flags of an xtask subcommand: `--flag value`, `--flag=value`, or a bare switch.

use anyhow::{Context, Result};

/// The arguments of a subcommand, read flag by flag.
pub(crate) struct Flags<'a> {
    args: std::slice::Iter<'a, String>,
    /// The subcommand's usage, shown with every error.
    help: &'static str,
}

/// One flag as given.
pub(crate) struct Flag<'a> {
    /// The flag's name (`--scales`), without an inline value.
    pub name: &'a str,
    /// The whole argument, for messages.
    pub arg: &'a str,
    inline: Option<&'a str>,
}

impl Flag<'_> {
    /// True when given without `=value`, as a switch is.
    pub fn is_switch(&self) -> bool {
        self.inline.is_none()
    }
}

impl<'a> Flags<'a> {
    pub fn new(args: &'a [String], help: &'static str) -> Self {
        Flags {
            args: args.iter(),
            help,
        }
    }

    /// The next flag, or `None` after the last.
    pub fn next_flag(&mut self) -> Option<Flag<'a>> {
        let arg = self.args.next()?;
        let (name, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (arg.as_str(), None),
        };
        Some(Flag { name, arg, inline })
    }

    /// The value of `flag`: after its `=`, or else the next argument.
    pub fn value(&mut self, flag: &Flag<'_>) -> Result<String> {
        match flag.inline {
            Some(v) => Ok(v.to_string()),
            None => self
                .args
                .next()
                .cloned()
                .with_context(|| format!("{} needs a value\n\n{}", flag.name, self.help)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_inline_or_next_and_switches() {
        let args: Vec<String> = ["--a=1", "--b", "2", "--c", "--d"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut flags = Flags::new(&args, "help");
        let a = flags.next_flag().unwrap();
        assert_eq!((a.name, flags.value(&a).unwrap().as_str()), ("--a", "1"));
        let b = flags.next_flag().unwrap();
        assert_eq!(flags.value(&b).unwrap(), "2");
        let c = flags.next_flag().unwrap();
        assert!(c.is_switch() && c.name == "--c");
        let d = flags.next_flag().unwrap();
        let missing = flags.value(&d).unwrap_err().to_string();
        assert!(missing.starts_with("--d needs a value"), "{missing}");
        assert!(flags.next_flag().is_none());
    }
}
