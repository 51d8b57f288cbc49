//! Typed paging of Orchestrator's OData datasets, and folder discovery.
//!
//! - `slice`: a [`SliceSpec`] (dataset, folder, time range, fields, page size) and the
//!   serializable [`Cursor`] that says where a read stands; the queries they make.
//! - `page`: [`crate::UipathClient::fetch_page`], [`Pages`] and
//!   [`crate::UipathClient::count`] over the request pipeline.
//! - `literal`: datetime literals exactly as UiPath serves and accepts them.
//! - this module: [`Folder`] and [`crate::UipathClient::folders`].
//!
//! Guarantees: `$top` never exceeds the dataset's cloud cap; `$select` always keeps the
//! cursor's fields; a slice read page by page returns each record in it exactly once, in
//! (time, Id) order, even while records are inserted or updated meanwhile (keyset paging);
//! RobotLogs are the one exception, paged by offset inside their window.

mod literal;
mod page;
mod slice;

use fleet_core::{dataset, Priority};
use serde::{Deserialize, Serialize};

pub use literal::parse_datetime;
pub use page::{decode_envelope, Page, Pages};
pub use slice::{Cursor, Record, SliceSpec, MAX_IDS_PER_QUERY};

use crate::error::ClientError;
use crate::UipathClient;

pub(crate) use literal::{format_datetime, is_safe_datetime};

/// An Orchestrator folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    /// Changes on some licence changes; use [`Folder::key`] to refer to a folder.
    pub id: i64,
    /// The folder's Key (uuid): stable, and what `X-UIPATH-FolderKey` takes.
    pub key: String,
    /// `FullyQualifiedName`, e.g. `Finance/Invoices`.
    pub path: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FolderDto {
    id: i64,
    key: String,
    fully_qualified_name: String,
}

impl UipathClient {
    /// Every folder the source's credentials can see (`/odata/Folders`, Id keyset), in Id
    /// order. Personal workspaces are not listed there (UiPath omits them).
    pub async fn folders(&self) -> Result<Vec<Folder>, ClientError> {
        let def = dataset::by_name("folders").expect("the catalog lists Folders");
        let spec = SliceSpec::new(def).select(["Id", "Key", "FullyQualifiedName"]);
        let mut pages = self.pages(spec, Cursor::Start, Priority::Sync);
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            for record in page?.records {
                let dto: FolderDto =
                    serde_json::from_value(record.into()).map_err(|e| ClientError::Malformed {
                        path: "/odata/Folders".into(),
                        detail: format!("unexpected folder: {e}"),
                    })?;
                out.push(Folder {
                    id: dto.id,
                    key: dto.key,
                    path: dto.fully_qualified_name,
                });
            }
        }
        Ok(out)
    }
}
