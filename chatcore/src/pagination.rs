//! Page-numbered lists.

use serde::Serialize;

use crate::{Error, Result};

/// Which page of a list to return: `page` counts from 1, `limit` is 1 to 100 (default 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    page: u32,
    limit: u32,
}

impl PageRequest {
    /// The default page size.
    pub const DEFAULT_LIMIT: u32 = 10;
    /// The largest page size.
    pub const MAX_LIMIT: u32 = 100;

    /// Checks a page number and size; `None` takes the default.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (`page` or `limit`) when out of range.
    pub fn new(page: Option<u32>, limit: Option<u32>) -> Result<Self> {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if page == 0 {
            return Err(Error::invalid("page", "pages count from 1"));
        }
        if limit == 0 || limit > Self::MAX_LIMIT {
            return Err(Error::invalid("limit", "must be between 1 and 100"));
        }
        Ok(PageRequest { page, limit })
    }

    /// The page number, from 1.
    pub fn page(&self) -> u32 {
        self.page
    }

    /// The page size.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub(crate) fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.limit)
    }

    /// Cuts a result fetched with `limit + 1` rows into a page.
    pub(crate) fn finish<T>(&self, mut items: Vec<T>) -> Page<T> {
        let has_more = items.len() > self.limit as usize;
        items.truncate(self.limit as usize);
        Page {
            items,
            page: self.page,
            limit: self.limit,
            has_more,
        }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            page: 1,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// One page of a list.
#[derive(Clone, Debug, Serialize)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// This page's number, from 1.
    pub page: u32,
    /// The page size asked for.
    pub limit: u32,
    /// Whether a next page has items.
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked() {
        assert_eq!(
            PageRequest::new(None, None).unwrap(),
            PageRequest::default()
        );
        assert_eq!(
            PageRequest::new(Some(0), None).unwrap_err().field(),
            Some("page")
        );
        assert_eq!(
            PageRequest::new(None, Some(0)).unwrap_err().field(),
            Some("limit")
        );
        assert_eq!(
            PageRequest::new(None, Some(101)).unwrap_err().field(),
            Some("limit")
        );
        assert_eq!(PageRequest::new(Some(3), Some(20)).unwrap().offset(), 40);
    }

    #[test]
    fn finish_detects_a_next_page() {
        let request = PageRequest::new(Some(1), Some(2)).unwrap();
        let page = request.finish(vec![1, 2, 3]);
        assert_eq!(page.items, vec![1, 2]);
        assert!(page.has_more);
        assert!(!request.finish(vec![1, 2]).has_more);
    }
}
