//! Checks against a provider's catalogue, with close matches for what does not exist.

use crate::failure::FieldError;

/// Edit distance between two short strings (slugs).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Up to three known values closest to `wanted`: sharing a prefix first, then by edit distance.
pub fn close_matches<'a>(wanted: &str, known: impl Iterator<Item = &'a str>) -> Vec<String> {
    let wanted_lower = wanted.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = known
        .map(|k| {
            let shared_prefix = k.chars().zip(wanted_lower.chars()).take_while(|(a, b)| a == b).count();
            let score = distance(&wanted_lower, k).saturating_sub(shared_prefix.min(3));
            (score, k)
        })
        .filter(|(score, k)| *score <= (k.len().max(wanted.len()) / 2).max(2))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, k)| k.to_owned()).collect()
}

/// `field` names something that is not in `known`.
pub fn unknown<'a>(
    field: &str,
    what: &str,
    wanted: &str,
    known: impl Iterator<Item = &'a str>,
) -> FieldError {
    let suggestions = close_matches(wanted, known);
    let hint = if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    };
    FieldError::new(field, format!("unknown {what} {wanted:?}{hint}")).with_suggestions(suggestions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_matches_find_typos_and_prefixes() {
        let sizes = ["s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-4gb", "c-2", "g-2vcpu-8gb"];
        let m = close_matches("s-1vcpu-1g", sizes.iter().copied());
        assert_eq!(m.first().map(String::as_str), Some("s-1vcpu-1gb"));
        let regions = ["nyc1", "nyc3", "sfo3", "ams3"];
        assert_eq!(
            close_matches("nyc2", regions.iter().copied())[..2],
            ["nyc1".to_owned(), "nyc3".to_owned()]
        );
        assert!(close_matches("windows-95", regions.iter().copied()).is_empty());
    }
}
