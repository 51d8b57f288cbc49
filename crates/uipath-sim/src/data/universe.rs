//! (being written)
use uuid::Uuid;
/// placeholder
#[derive(Debug, Clone, Default)]
pub struct DataConfig {}
/// placeholder
#[derive(Debug, Clone)]
pub struct FolderInfo { pub id: i64, pub key: Uuid, pub display_name: String, pub fully_qualified_name: String }
/// placeholder
#[derive(Debug)]
pub struct TenantData { pub folders: Vec<FolderInfo> }
