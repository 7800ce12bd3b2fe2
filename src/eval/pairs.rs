//! LFW-style pairs files (`pairs.txt`, `pairsDevTest.txt`): an optional header line of counts
//! (`10 300` or `300`), then `name n1 n2` (a genuine pair: two images of one person) or
//! `name1 n1 name2 n2` (an impostor pair), whitespace separated. Blank lines and lines starting
//! with `#` are skipped. Header counts are not checked against the number of lines.

use serde::Serialize;

use super::{EvalError, Sample};

/// One pair: `(name, image number)` twice, and whether both images show the same person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pair {
    /// First image: (person, image number).
    pub a: (String, u32),
    /// Second image: (person, image number).
    pub b: (String, u32),
    /// Same person.
    pub genuine: bool,
}

fn number(tok: &str, line: usize) -> Result<u32, EvalError> {
    tok.parse().map_err(|_| EvalError::Pairs { line, message: format!("{tok:?} is not an image number") })
}

/// Parses a pairs file; errors name the (1-based) line.
pub fn parse(text: &str) -> Result<Vec<Pair>, EvalError> {
    let mut out = vec![];
    let mut first = true;
    for (k, raw) in text.lines().enumerate() {
        let line = k + 1;
        let t: Vec<&str> = raw.split_whitespace().collect();
        if t.is_empty() || t[0].starts_with('#') {
            continue;
        }
        let header = first && t.len() <= 2 && t.iter().all(|x| x.parse::<u64>().is_ok());
        first = false;
        if header {
            continue;
        }
        let pair = match t[..] {
            [name, n1, n2] => Pair {
                a: (name.to_string(), number(n1, line)?),
                b: (name.to_string(), number(n2, line)?),
                genuine: true,
            },
            [a, n1, b, n2] => {
                Pair { a: (a.to_string(), number(n1, line)?), b: (b.to_string(), number(n2, line)?), genuine: a == b }
            }
            _ => {
                return Err(EvalError::Pairs {
                    line,
                    message: format!("expected `name n1 n2` or `name1 n1 name2 n2`, got {} field(s)", t.len()),
                })
            }
        };
        out.push(pair);
    }
    Ok(out)
}

/// The LFW file stem of image `n` of `name`: `Name_0001`.
pub fn lfw_stem(name: &str, n: u32) -> String {
    format!("{name}_{n:04}")
}

/// Maps pairs to sample indices by LFW file stem: a sample matches `(name, n)` when the file name
/// of its `item` (after the last `/` or `\`, before the extension) is [`lfw_stem`]`(name, n)`.
/// Returns the index pairs, and the indices of the pairs that could not be resolved.
pub fn resolve(pairs: &[Pair], samples: &[Sample]) -> (Vec<(usize, usize)>, Vec<usize>) {
    let mut by_stem = std::collections::HashMap::new();
    for (i, s) in samples.iter().enumerate() {
        let file = s.item.rsplit(['/', '\\']).next().unwrap_or(&s.item);
        let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
        by_stem.entry(stem.to_string()).or_insert(i);
    }
    let (mut found, mut missing) = (vec![], vec![]);
    for (k, p) in pairs.iter().enumerate() {
        let look = |(name, n): &(String, u32)| by_stem.get(&lfw_stem(name, *n)).copied();
        match (look(&p.a), look(&p.b)) {
            (Some(i), Some(j)) => found.push((i, j)),
            _ => missing.push(k),
        }
    }
    (found, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "10\t300\nAbel_Pacheco\t1\t4\n\n# comment\nAbdel_Madi_Shabneh 1 Dean_Barker 1\n";

    #[test]
    fn parses_lfw_lines() {
        let p = parse(TEXT).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0], Pair { a: ("Abel_Pacheco".into(), 1), b: ("Abel_Pacheco".into(), 4), genuine: true });
        assert_eq!((p[1].b.0.as_str(), p[1].genuine), ("Dean_Barker", false));
        assert_eq!(parse("300\nA 1 2").unwrap().len(), 1);
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let e = parse("10 300\nA 1 2\nB one 2\n").unwrap_err();
        assert_eq!(e, EvalError::Pairs { line: 3, message: "\"one\" is not an image number".into() });
        let e = parse("A 1 2\nA 1 B 2 extra\n").unwrap_err();
        assert!(matches!(e, EvalError::Pairs { line: 2, .. }), "{e}");
        assert!(matches!(parse("A 1\n"), Err(EvalError::Pairs { line: 1, .. })));
        assert!(matches!(parse("A -1 2\n"), Err(EvalError::Pairs { line: 1, .. })));
        // A second all-numeric line is not a header.
        assert!(parse("10 300\n1 2\n").is_err());
    }

    #[test]
    fn resolves_by_file_stem() {
        let s = |item: &str| Sample { label: "x".into(), item: item.into(), vector: vec![1.0] };
        let samples = vec![s("lfw/Abel_Pacheco/Abel_Pacheco_0001.jpg"), s("Abel_Pacheco_0004.png")];
        let (found, missing) = resolve(&parse(TEXT).unwrap(), &samples);
        assert_eq!((found, missing), (vec![(0, 1)], vec![1]));
    }
}
