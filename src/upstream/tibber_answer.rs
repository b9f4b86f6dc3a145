//! Reading Tibber's GraphQL answers: the `errors[]` taxonomy, the path to
//! the price lists, and price nodes into intervals. Kept apart from the
//! client in `tibber` so the wire format can be read (and tested) without
//! the HTTP side. Nothing here quotes upstream text into an error.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::error::UpstreamError;
use crate::pool::days::expected_resolution;
use crate::pool::{HomeInfo, Interval, PriceLevel};

/// Classifies `errors[]` of a GraphQL answer. The error names only the
/// code (when it is a plain word); the upstream's message goes to the log,
/// never into errors that reach clients.
pub(super) fn check_graphql_errors(value: &Value) -> Result<(), UpstreamError> {
    let Some(errors) = value
        .get("errors")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
    else {
        return Ok(());
    };
    let data_is_null = value.get("data").is_none_or(Value::is_null);
    for error in errors {
        let (code, message) = code_and_message(error);
        tracing::debug!(code, message = %message.escape_debug(), "upstream graphql error");
        let lower = message.to_lowercase();
        match code {
            "UNAUTHENTICATED" | "FORBIDDEN" => {
                return Err(UpstreamError::Auth(format!("graphql error {code}")));
            }
            "GRAPHQL_VALIDATION_FAILED" | "GRAPHQL_PARSE_FAILED" | "BAD_USER_INPUT" => {
                return Err(UpstreamError::Malformed(format!("graphql error {code}")));
            }
            "TOO_MANY_REQUESTS" | "RATE_LIMITED" => {}
            _ if lower.contains("too many requests") || lower.contains("rate limit") => {}
            _ => continue,
        }
        return Err(UpstreamError::RateLimited {
            message: format!("graphql error {code}"),
            retry_after: None,
        });
    }
    if data_is_null {
        let (code, _) = code_and_message(&errors[0]);
        return Err(UpstreamError::Transient(format!("graphql error {code}")));
    }
    Ok(())
}

/// `extensions.code` (when it is a plain upper-case word, else `unknown`)
/// and the shortened message of one GraphQL error.
fn code_and_message(error: &Value) -> (&str, String) {
    let code = error
        .pointer("/extensions/code")
        .and_then(Value::as_str)
        .filter(|code| {
            (1..=48).contains(&code.len())
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .unwrap_or("unknown");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    (code, message)
}

/// `data.viewer.home.currentSubscription`, or why it is not there.
pub(super) fn subscription_of<'a>(
    value: &'a Value,
    home_id: &str,
) -> Result<&'a Value, UpstreamError> {
    let viewer = value
        .pointer("/data/viewer")
        .filter(|v| v.is_object())
        .ok_or_else(|| UpstreamError::Malformed("data.viewer missing".to_string()))?;
    let home = viewer
        .get("home")
        .filter(|v| v.is_object())
        .ok_or_else(|| UpstreamError::HomeNotFound(home_id.to_string()))?;
    home.get("currentSubscription")
        .filter(|v| v.is_object())
        .ok_or_else(|| UpstreamError::NoSubscription(home_id.to_string()))
}

/// `priceInfo` of a recent-window answer; the outage mode (`current: null,
/// today: []`) is `EmptyData`, not "no prices".
pub(super) fn price_info_of<'a>(
    value: &'a Value,
    home_id: &str,
) -> Result<&'a Value, UpstreamError> {
    let price_info = subscription_of(value, home_id)?
        .get("priceInfo")
        .filter(|v| v.is_object())
        .ok_or_else(|| UpstreamError::Malformed("priceInfo missing".to_string()))?;
    let today_is_empty = price_info
        .get("today")
        .and_then(Value::as_array)
        .is_none_or(|t| t.is_empty());
    let current_is_null = price_info.get("current").is_none_or(Value::is_null);
    if current_is_null && today_is_empty {
        return Err(UpstreamError::EmptyData);
    }
    Ok(price_info)
}

/// The nodes and pageInfo of `priceInfoRange` (`nodes` or `edges[].node`).
pub(super) fn range_nodes(subscription: &Value) -> Result<(&[Value], &Value), UpstreamError> {
    let range = subscription
        .get("priceInfoRange")
        .filter(|v| v.is_object())
        .ok_or_else(|| UpstreamError::Malformed("priceInfoRange missing".to_string()))?;
    static NULL: Value = Value::Null;
    let page_info = range.get("pageInfo").unwrap_or(&NULL);
    match range.get("nodes") {
        Some(Value::Array(nodes)) => Ok((nodes.as_slice(), page_info)),
        _ => Err(UpstreamError::Malformed(
            "priceInfoRange.nodes is not a list".to_string(),
        )),
    }
}

/// Parses price nodes into intervals; the resolution follows the date
/// (hourly before local midnight of `switch`, the quarter-hourly start). A list longer than `most` (what the
/// query asked for, plus the one interval either cursor reading may add)
/// is malformed, and so is a node priced in another currency than the home's.
pub(super) fn parse_nodes(
    nodes: &[Value],
    home: &HomeInfo,
    switch: NaiveDate,
    most: usize,
) -> Result<Vec<Interval>, UpstreamError> {
    if nodes.len() > most {
        return Err(UpstreamError::Malformed(format!(
            "{} price nodes in a list that holds at most {most}",
            nodes.len()
        )));
    }
    nodes
        .iter()
        .map(|node| parse_node(node, home, switch))
        .collect()
}

fn parse_node(node: &Value, home: &HomeInfo, switch: NaiveDate) -> Result<Interval, UpstreamError> {
    let malformed = |what: &str| UpstreamError::Malformed(format!("price node: {what}"));
    if node
        .get("currency")
        .and_then(Value::as_str)
        .is_some_and(|currency| currency != home.currency)
    {
        return Err(malformed(&format!(
            "currency is not the home's ({})",
            home.currency
        )));
    }
    let starts_at = node
        .get("startsAt")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .ok_or_else(|| malformed("startsAt is not an RFC 3339 instant"))?
        .with_timezone(&Utc);
    let number = |field: &str| node.get(field).and_then(Value::as_f64);
    let total = number("total").ok_or_else(|| malformed("total is not a number"))?;
    let energy = number("energy").unwrap_or(total);
    let tax = number("tax").unwrap_or(total - energy);
    let level = node
        .get("level")
        .and_then(Value::as_str)
        .and_then(PriceLevel::parse);
    let interval = Interval::new(
        starts_at,
        expected_resolution(home.zone, switch, starts_at),
        total,
        energy,
        tax,
        level,
    );
    interval.validate().map_err(|e| malformed(&e.to_string()))?;
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_unauthenticated_is_an_auth_error_and_unknown_errors_without_data_are_transient() {
        let auth = serde_json::json!({"errors":[{"message":"bad token","extensions":{"code":"UNAUTHENTICATED"}}],"data":null});
        assert!(matches!(
            check_graphql_errors(&auth),
            Err(UpstreamError::Auth(_))
        ));
        let other = serde_json::json!({"errors":[{"message":"boom","extensions":{"code":"INTERNAL_SERVER_ERROR"}}],"data":null});
        assert!(matches!(
            check_graphql_errors(&other),
            Err(UpstreamError::Transient(_))
        ));
    }

    use crate::pool::EUROPE_QUARTER_HOURLY_FROM;

    fn oslo() -> HomeInfo {
        HomeInfo {
            id: "demo-oslo".into(),
            zone: chrono_tz::Europe::Oslo,
            currency: "NOK".into(),
        }
    }

    fn node(starts_at: &str, currency: &str) -> Value {
        serde_json::json!({"startsAt": starts_at, "total": 1.2, "energy": 1.0, "tax": 0.2,
                           "level": "NORMAL", "currency": currency})
    }

    #[test]
    fn a_node_in_another_currency_than_the_homes_is_malformed() {
        let nodes = [node("2025-11-10T00:00:00.000+01:00", "NOK")];
        assert_eq!(
            parse_nodes(&nodes, &oslo(), EUROPE_QUARTER_HOURLY_FROM, 1)
                .unwrap()
                .len(),
            1
        );
        let foreign = [node("2025-11-10T00:00:00.000+01:00", "SEK")];
        let error = parse_nodes(&foreign, &oslo(), EUROPE_QUARTER_HOURLY_FROM, 1).unwrap_err();
        assert!(matches!(error, UpstreamError::Malformed(_)));
        assert!(!error.to_string().contains("SEK"), "{error}");
    }

    #[test]
    fn a_list_longer_than_asked_for_is_malformed() {
        let nodes = [
            node("2025-11-10T00:00:00.000+01:00", "NOK"),
            node("2025-11-10T00:15:00.000+01:00", "NOK"),
        ];
        assert_eq!(
            parse_nodes(&nodes, &oslo(), EUROPE_QUARTER_HOURLY_FROM, 2)
                .unwrap()
                .len(),
            2
        );
        assert!(matches!(
            parse_nodes(&nodes, &oslo(), EUROPE_QUARTER_HOURLY_FROM, 1),
            Err(UpstreamError::Malformed(_))
        ));
    }

    #[test]
    fn graphql_messages_are_not_quoted_and_odd_codes_are_not_either() {
        let odd = serde_json::json!({"errors":[{"message":"<script>x</script>","extensions":{"code":"<b>"}}],"data":null});
        let error = check_graphql_errors(&odd).unwrap_err().to_string();
        assert!(
            !error.contains("script") && !error.contains("<b>"),
            "{error}"
        );
    }
}
