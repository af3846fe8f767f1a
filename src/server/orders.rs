//! The shop's orders as staff read them: the desk's pages
//! (`/admin/orders`) and the export's rows (`order_export`). Reads only:
//! an order is made by the inventory, at checkout, and never changes.

use futures::stream::BoxStream;

use crate::server::store::{SoldLine, Store, StoreError};
use crate::shared::stock::Order;

/// Reading the orders.
#[derive(Clone, Debug)]
pub struct OrderBook {
    store: Store,
}

impl OrderBook {
    pub fn new(store: Store) -> OrderBook {
        OrderBook { store }
    }

    /// Orders newest first, `per_page` from `offset`, and whether more
    /// follow; with `book`, only those holding a book whose id it is or
    /// whose title contains it.
    pub async fn page(
        &self,
        book: Option<&str>,
        offset: u32,
        per_page: u32,
    ) -> Result<(Vec<Order>, bool), StoreError> {
        self.store.orders_page(book, offset, per_page).await
    }

    /// Every book of every order placed at or after `since_ms`, oldest
    /// first, as the caller reads them.
    pub fn sold_lines_since(&self, since_ms: i64) -> BoxStream<'_, Result<SoldLine, StoreError>> {
        self.store.sold_lines_since(since_ms)
    }
}
