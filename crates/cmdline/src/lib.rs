//! Kernel command-line parsing with Linux's grammar.
//!
//! The command line is a list of whitespace-separated parameters, each `name` or `name=value`. As in Linux's
//! `next_arg` (`lib/cmdline.c`), double quotes group whitespace into one parameter and are removed, and `-` and
//! `_` are the same character in a parameter name. Parameters ember does not know are ignored by their users:
//! this crate never rejects a command line.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod ip;
mod virtio_mmio;

pub use ip::{IpConfig, IpError, Ipv4};

pub use virtio_mmio::{VirtioMmioDevice, VirtioMmioError, memparse, parse_integer};

/// One `name[=value]` parameter of a command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    /// The parameter name, quotes removed.
    pub name: &'a str,
    /// The value after the first `=`, quotes removed; `None` for a bare flag.
    pub value: Option<&'a str>,
}

/// A borrowed kernel command line.
#[derive(Clone, Copy, Debug)]
pub struct Cmdline<'a> {
    text: &'a str,
}

impl<'a> Cmdline<'a> {
    /// Wraps a command line.
    pub const fn new(text: &'a str) -> Self {
        Self { text }
    }

    /// The whole command line as given.
    pub const fn as_str(&self) -> &'a str {
        self.text
    }

    /// Iterates over the parameters in order.
    pub fn params(&self) -> Params<'a> {
        Params { rest: self.text }
    }

    /// The value of the last `name=value` parameter called `name` (Linux lets a later parameter override an
    /// earlier one). A bare `name` counts as present with an empty value.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.params()
            .filter(|p| names_equal(p.name, name))
            .last()
            .map(|p| p.value.unwrap_or(""))
    }

    /// Whether a parameter called `name` is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.params().any(|p| names_equal(p.name, name))
    }

    /// The console log level the command line asks for, with Linux's meaning: messages with a priority
    /// numerically below it are printed (0 emergency … 7 debug). `debug` sets 10, `quiet` sets 4, and a
    /// `loglevel=N` after them wins; `None` when nothing is said or the value is not a number.
    pub fn loglevel(&self) -> Option<u32> {
        let mut level = None;
        for p in self.params() {
            if names_equal(p.name, "debug") {
                level = Some(10);
            } else if names_equal(p.name, "quiet") {
                level = Some(4);
            } else if names_equal(p.name, "loglevel")
                && let Some(n) = p.value.and_then(|v| v.parse::<u32>().ok())
            {
                level = Some(n);
            }
        }
        level
    }
}

/// Compares two parameter names, treating `-` and `_` as the same character (Linux's `parameqn`).
pub fn names_equal(a: &str, b: &str) -> bool {
    let norm = |c: u8| if c == b'-' { b'_' } else { c };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y))
}

/// Iterator over the parameters of a [`Cmdline`].
#[derive(Clone, Debug)]
pub struct Params<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        let text = self.rest.trim_start_matches(is_space);
        if text.is_empty() {
            self.rest = text;
            return None;
        }
        let mut in_quote = false;
        let mut equals = None;
        let mut end = text.len();
        for (i, c) in text.char_indices() {
            if c == '"' {
                in_quote = !in_quote;
            } else if !in_quote && is_space(c) {
                end = i;
                break;
            } else if c == '=' && equals.is_none() {
                equals = Some(i);
            }
        }
        self.rest = &text[end..];
        let token = &text[..end];
        Some(match equals {
            Some(eq) => Param {
                name: strip_quotes(&token[..eq]),
                value: Some(strip_quotes(&token[eq + 1..])),
            },
            None => Param {
                name: strip_quotes(token),
                value: None,
            },
        })
    }
}

fn is_space(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\0'
}

/// Removes the quotes Linux removes: one leading and one trailing `"`, and any `"` left inside a name.
fn strip_quotes(s: &str) -> &str {
    let s = s.strip_prefix('"').unwrap_or(s);
    s.strip_suffix('"').unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRECRACKER_DEFAULT: &str = "reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux \
        i8042.dumbkbd swiotlb=noforce pci=off virtio_mmio.device=4K@0xc0001000:5";

    fn params(s: &str) -> Vec<(&str, Option<&str>)> {
        Cmdline::new(s).params().map(|p| (p.name, p.value)).collect()
    }

    #[test]
    fn splits_on_whitespace_and_first_equals() {
        assert_eq!(
            params("  console=ttyS0\treboot=k  ro a=b=c\n"),
            vec![
                ("console", Some("ttyS0")),
                ("reboot", Some("k")),
                ("ro", None),
                ("a", Some("b=c"))
            ]
        );
    }

    #[test]
    fn empty_and_blank_lines_have_no_params() {
        assert!(params("").is_empty());
        assert!(params("   \t\n ").is_empty());
        assert!(params("\0\0").is_empty());
    }

    #[test]
    fn quotes_group_whitespace_and_are_removed() {
        assert_eq!(
            params(r#"init=/bin/sh foo="a b c" "bar=x y" z"#),
            vec![
                ("init", Some("/bin/sh")),
                ("foo", Some("a b c")),
                ("bar", Some("x y")),
                ("z", None)
            ]
        );
    }

    #[test]
    fn unterminated_quote_runs_to_the_end() {
        assert_eq!(params(r#"a="b c"#), vec![("a", Some("b c"))]);
        assert_eq!(params(r#"""#), vec![("", None)]);
    }

    #[test]
    fn firecracker_defaults_parse_and_are_found() {
        let c = Cmdline::new(FIRECRACKER_DEFAULT);
        assert_eq!(c.params().count(), 10);
        assert_eq!(c.value("8250.nr-uarts"), Some("0"));
        assert_eq!(c.value("virtio_mmio.device"), Some("4K@0xc0001000:5"));
        assert!(c.has("nomodule"));
        assert_eq!(c.value("nomodule"), Some(""));
        assert!(!c.has("console"));
        assert_eq!(c.loglevel(), None);
    }

    #[test]
    fn later_parameter_wins() {
        assert_eq!(Cmdline::new("a=1 b=2 a=3").value("a"), Some("3"));
    }

    #[test]
    fn dash_and_underscore_are_equal_in_names() {
        assert!(names_equal("virtio-mmio.device", "virtio_mmio.device"));
        assert!(!names_equal("abc", "abd"));
        assert!(!names_equal("abc", "ab"));
    }

    #[test]
    fn loglevel_follows_linux() {
        assert_eq!(Cmdline::new("loglevel=7").loglevel(), Some(7));
        assert_eq!(Cmdline::new("quiet").loglevel(), Some(4));
        assert_eq!(Cmdline::new("debug").loglevel(), Some(10));
        assert_eq!(Cmdline::new("debug loglevel=3").loglevel(), Some(3));
        assert_eq!(Cmdline::new("loglevel=3 quiet").loglevel(), Some(4));
        assert_eq!(Cmdline::new("loglevel=x").loglevel(), None);
        assert_eq!(Cmdline::new("loglevel=").loglevel(), None);
        assert_eq!(Cmdline::new("loglevel=99999999999999").loglevel(), None);
    }

    #[test]
    fn garbage_never_panics() {
        let garbage = "=== = \"=\" ==x \u{7f}\u{1}é=ü \"\" a\"b\"c=d\"e x=\"";
        let c = Cmdline::new(garbage);
        assert!(c.params().count() > 0);
        let _ = c.loglevel();
        for end in 0..garbage.len() {
            if garbage.is_char_boundary(end) {
                let _ = Cmdline::new(&garbage[..end]).params().count();
            }
        }
    }
}
