//! Defensive paging: follows `NextToken` until the service stops giving one, writing each page
//! as it arrives, and refuses to loop on a token it has already seen.

use std::collections::HashSet;

use super::{CollectError, RequestError};

/// One page as the service sent it: the raw body, the token of the next page, and the names
/// or ids of its items that later calls need (vault names, plan ids, …).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub bytes: Vec<u8>,
    pub next_token: Option<String>,
    pub names: Vec<String>,
}

/// Fetches every page of one list, in order: `fetch(token)` gets a page, `write(n, bytes)`
/// stores page `n` (from 0). Returns the names of all items, or the request error that ended
/// the list. A missing or empty token ends the list; a token seen before is an error.
pub async fn paginate<F, Fut, W>(
    operation: &str,
    mut fetch: F,
    mut write: W,
) -> Result<Result<Vec<String>, RequestError>, CollectError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page, RequestError>>,
    W: FnMut(usize, &[u8]) -> Result<(), CollectError>,
{
    let mut seen = HashSet::new();
    let mut token: Option<String> = None;
    let mut names = Vec::new();
    for n in 0.. {
        let page = match fetch(token.take()).await {
            Ok(page) => page,
            Err(e) => return Ok(Err(e)),
        };
        write(n, &page.bytes)?;
        names.extend(page.names);
        match page.next_token.filter(|t| !t.is_empty()) {
            None => break,
            Some(t) if !seen.insert(t.clone()) => {
                return Ok(Err(RequestError {
                    code: Some("RepeatedNextToken".into()),
                    message: format!(
                        "{operation}: the service returned NextToken `{t}` a second time (page {}); stopping instead of looping",
                        n + 1
                    ),
                }));
            }
            Some(t) => token = Some(t),
        }
    }
    Ok(Ok(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tokens: Vec<Option<&'static str>>) -> (Result<Vec<String>, String>, Vec<usize>) {
        let mut written = Vec::new();
        let mut calls = 0usize;
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let result = rt.block_on(paginate(
            "list-things",
            |_token| {
                let next = tokens[calls].map(str::to_string);
                calls += 1;
                let n = calls;
                async move { Ok(Page { bytes: vec![n as u8], next_token: next, names: vec![format!("item{n}")] }) }
            },
            |n, _| {
                written.push(n);
                Ok(())
            },
        ));
        (result.unwrap().map_err(|e| e.message), written)
    }

    #[test]
    fn follows_tokens_until_none_or_empty() {
        let (names, written) = run(vec![Some("a"), Some("b"), None]);
        assert_eq!(names.unwrap(), vec!["item1", "item2", "item3"]);
        assert_eq!(written, vec![0, 1, 2]);
        let (names, _) = run(vec![Some("a"), Some("")]);
        assert_eq!(names.unwrap().len(), 2, "an empty token ends the list");
    }

    #[test]
    fn a_repeated_token_is_an_error_not_a_loop() {
        let (names, written) = run(vec![Some("a"), Some("b"), Some("a"), Some("z")]);
        assert_eq!(
            names.unwrap_err(),
            "list-things: the service returned NextToken `a` a second time (page 3); stopping instead of looping"
        );
        assert_eq!(written, vec![0, 1, 2]);
    }
}
