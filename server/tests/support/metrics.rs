//! Reads Portal's `/metrics` answer (Prometheus text format) as a scraper would.

/// The values of the series of `name` whose labels include `labels`.
pub fn series(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            if metric != name {
                return None;
            }
            let have: Vec<(&str, &str)> = rest
                .trim_end_matches('}')
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k, v.trim_matches('"')))
                .collect();
            labels
                .iter()
                .all(|wanted| have.contains(wanted))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .collect()
}

/// The sum of the series of `name` whose labels include `labels`, or 0 when there are none.
pub fn sum(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    series(exposition, name, labels).into_iter().sum()
}

/// The value of `name` when it is one series (a counter or gauge without labels).
pub fn sample(exposition: &str, name: &str) -> Option<f64> {
    match series(exposition, name, &[])[..] {
        [value] => Some(value),
        _ => None,
    }
}
