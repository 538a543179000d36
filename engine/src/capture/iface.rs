//! INPUT_RAW for live engines: `eth0`, `eth0,eth1`, `eth0:80,eth0:8080,eth1:443`
//! or `any`. Ports become a per-interface filter (`tcp port 80 or ...`)
//! combined with INPUT_RAW_BPF_FILTER; an interface listed once without a
//! port is captured on every port.

use std::path::Path;

use crate::config::ConfigError;

/// One interface to capture on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    /// 0 for `any`.
    pub index: u32,
    /// Empty: every port.
    pub ports: Vec<u16>,
    pub loopback: bool,
}

const VAR: &str = "INPUT_RAW (--input-raw)";
const FORM: &str = "interfaces such as eth0, eth0,eth1, eth0:80,eth1:443 or any";

fn invalid(problem: String) -> ConfigError {
    ConfigError::value(VAR, problem).expected(FORM)
}

fn sys_index(name: &str) -> Option<u32> {
    std::fs::read_to_string(Path::new("/sys/class/net").join(name).join("ifindex"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn is_loopback(name: &str) -> bool {
    // ARPHRD_LOOPBACK
    std::fs::read_to_string(Path::new("/sys/class/net").join(name).join("type"))
        .is_ok_and(|t| t.trim() == "772")
}

fn available() -> String {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.join(", ")
}

/// Parses and resolves INPUT_RAW; the error is one line naming the variable.
pub fn parse(input: &str) -> Result<Vec<Iface>, ConfigError> {
    let mut out: Vec<(String, Option<Vec<u16>>)> = Vec::new();
    for item in input.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, port) = match item.rsplit_once(':') {
            Some((n, p)) => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| invalid(format!("invalid port in '{item}'")))?;
                (n.trim(), Some(port))
            }
            None => (item, None),
        };
        if name.is_empty() || name.len() > 15 || name.contains('/') {
            return Err(invalid(format!("invalid interface name in '{item}'")));
        }
        match out.iter_mut().find(|(n, _)| n == name) {
            // An entry without a port means every port.
            Some((_, ports)) => match (ports.as_mut(), port) {
                (Some(list), Some(p)) if !list.contains(&p) => list.push(p),
                (_, None) => *ports = None,
                _ => {}
            },
            None => out.push((name.to_string(), port.map(|p| vec![p]))),
        }
    }
    if out.is_empty() {
        return Err(invalid("empty value".into()));
    }
    if out.len() > 1 && out.iter().any(|(n, _)| n == "any") {
        return Err(invalid(
            "'any' already includes every interface; list it alone".into(),
        ));
    }
    out.into_iter()
        .map(|(name, ports)| {
            let index = if name == "any" {
                0
            } else {
                sys_index(&name).ok_or_else(|| {
                    invalid(format!(
                        "no network interface '{name}' (present: {})",
                        available()
                    ))
                })?
            };
            Ok(Iface {
                loopback: is_loopback(&name),
                name,
                index,
                ports: ports.unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ports() {
        let v = parse("lo:80,lo:8080, lo:80").unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].ports, vec![80, 8080]);
        assert!(v[0].loopback);
        assert!(v[0].index > 0);
        let v = parse("lo:80,lo").unwrap();
        assert!(v[0].ports.is_empty());
        assert_eq!(parse("any").unwrap()[0].index, 0);
    }

    #[test]
    fn errors_name_the_variable() {
        for bad in [
            "nosuchif0",
            "lo:http",
            "lo:0",
            "lo:70000",
            ",",
            "any,lo",
            "a/b",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("INPUT_RAW (--input-raw): "), "{e}");
        }
        assert!(parse("nosuchif0")
            .unwrap_err()
            .to_string()
            .contains("no network interface 'nosuchif0'"));
    }
}
