//! `/odata/Folders` and `/odata/Users`: tenant-level sets (no folder header needed).
//!
//! Folders are the tenant's configured tree in order (parents before children), ordered
//! by id; their DTO has no creation time. Users are ordered by id and `CreationTime`. Like
//! the real endpoint, `/odata/Folders` lists no personal workspaces (none are generated).

use crate::data::catalog::UserInfo;
use crate::data::entities::reference::{tenant_level, ReferenceSet};
use crate::data::entities::{opt_guid, opt_int, schema, RowBuf};
use crate::data::enums::*;
use crate::data::hash::{mix2, uuid_from};
use crate::data::universe::tag;
use crate::data::{AsOf, EntityDef, FolderInfo};
use crate::value::{Row, Schema, Val};

pub static FOLDER: Schema = schema!("FolderDto" {
    Key: Guid,
    DisplayName: String,
    FullyQualifiedName: String,
    Description: String,
    FolderType: Enum(FOLDER_TYPE),
    IsPersonal: Bool,
    ProvisionType: Enum(PROVISION_TYPE),
    PermissionModel: Enum(PERMISSION_MODEL),
    ParentId: Int64,
    ParentKey: Guid,
    FeedType: Enum(FEED_TYPE),
    Id: Int64,
});

pub static FOLDERS: EntityDef = EntityDef::tenant_wide("Folders", &FOLDER, "OR.Folders");

pub static USER: Schema = schema!("UserDto" {
    Name: String, Surname: String, UserName: String, Domain: String,
    DirectoryIdentifier: String, FullName: String, EmailAddress: String,
    LastLoginTime: DateTime, IsActive: Bool, CreationTime: DateTime,
    AuthenticationSource: String, Password: String, IsExternalLicensed: Bool, RolesList: Json,
    LoginProviders: Json, TenantId: Int32, TenancyName: String, TenantDisplayName: String,
    TenantKey: String, Type: Enum(USER_TYPE), ProvisionType: Enum(PROVISION_TYPE),
    LicenseType: Enum(RUNTIME_TYPE), Key: Guid, MayHaveUserSession: Bool,
    MayHaveRobotSession: Bool, MayHaveUnattendedSession: Bool, MayHavePersonalWorkspace: Bool,
    RestrictToPersonalWorkspace: Bool, AccountId: String, HasOnlyInheritedPrivileges: Bool,
    ExplicitMayHaveUserSession: Bool, ExplicitMayHaveRobotSession: Bool,
    ExplicitMayHavePersonalWorkspace: Bool, ExplicitRestrictToPersonalWorkspace: Bool,
    LastModificationTime: DateTime, LastModifierUserId: Int64, CreatorUserId: Int64, Id: Int64,
});

pub static USERS: EntityDef = EntityDef {
    time_field: Some("CreationTime"),
    ..EntityDef::tenant_wide("Users", &USER, "OR.Users")
};

pub(crate) struct Folders;

impl ReferenceSet for Folders {
    type Entry = FolderInfo;

    fn def(&self) -> &'static EntityDef {
        &FOLDERS
    }

    fn entries<'t>(&self, t: &'t AsOf<'_>, part: usize) -> &'t [FolderInfo] {
        tenant_level(&t.folders, part)
    }

    fn row(&self, t: &AsOf<'_>, _part: usize, i: u64) -> Row {
        let f = &t.folders[i as usize];
        let mut r = RowBuf::new(&FOLDER);
        r.put("Key", Val::Guid(f.key));
        r.put("DisplayName", Val::string(f.display_name.clone()));
        r.put(
            "FullyQualifiedName",
            Val::string(f.fully_qualified_name.clone()),
        );
        r.put(
            "Description",
            f.description.clone().map_or(Val::Null, Val::string),
        );
        r.put("FolderType", Val::str(f.folder_type));
        r.put("IsPersonal", Val::Bool(false));
        r.put("ProvisionType", Val::str("Manual"));
        r.put("PermissionModel", Val::str("FineGrained"));
        r.put("ParentId", opt_int(f.parent_id));
        r.put("ParentKey", opt_guid(f.parent_key));
        r.put(
            "FeedType",
            Val::str(if f.parent.is_some() {
                "FolderHierarchy"
            } else {
                "Processes"
            }),
        );
        r.put("Id", Val::Int(f.id));
        r.finish()
    }
}

pub(crate) struct Users;

impl ReferenceSet for Users {
    type Entry = UserInfo;

    fn def(&self) -> &'static EntityDef {
        &USERS
    }

    fn entries<'t>(&self, t: &'t AsOf<'_>, part: usize) -> &'t [UserInfo] {
        tenant_level(&t.users, part)
    }

    fn row(&self, t: &AsOf<'_>, _part: usize, i: u64) -> Row {
        let u = &t.users[i as usize];
        let person = matches!(u.kind, "User" | "DirectoryUser");
        let robot = u.kind == "DirectoryRobot";
        let directory = u.kind.starts_with("Directory");
        let admin = t.users.first().map(|a| a.id).filter(|_| i > 0);
        let roles = match (i, u.kind) {
            (0, _) => r#"["Administrator"]"#,
            (_, "DirectoryRobot") => r#"["Robot"]"#,
            (_, "DirectoryExternalApplication") => "[]",
            _ if i % 4 == 1 => r#"["Automation Developer"]"#,
            _ => r#"["Automation User"]"#,
        };
        let mut r = RowBuf::new(&USER);
        r.put("Name", if person { Val::str(u.first) } else { Val::Null });
        r.put("Surname", if person { Val::str(u.last) } else { Val::Null });
        r.put("UserName", Val::string(u.user_name.clone()));
        r.put("Domain", Val::str(if directory { "autogen" } else { "" }));
        r.put(
            "DirectoryIdentifier",
            Val::string(uuid_from(mix2(u.key.as_u128() as u64, 7)).to_string()),
        );
        r.put(
            "FullName",
            if person {
                Val::string(format!("{} {}", u.first, u.last))
            } else {
                Val::string(u.user_name.clone())
            },
        );
        r.put(
            "EmailAddress",
            u.email.clone().map_or(Val::Null, Val::string),
        );
        r.put("LastLoginTime", Val::opt_datetime(u.last_login_ms));
        r.put("IsActive", Val::Bool(u.active));
        r.put("CreationTime", Val::DateTime(u.created_ms));
        r.put(
            "AuthenticationSource",
            Val::str(if directory { "Cloud" } else { "" }),
        );
        r.put("Password", Val::Null);
        r.put("IsExternalLicensed", Val::Bool(false));
        r.put("RolesList", Val::Raw(roles.into()));
        r.put(
            "LoginProviders",
            Val::Raw(if person { r#"["Cloud"]"# } else { "[]" }.into()),
        );
        r.put(
            "TenantId",
            Val::Int((mix2(t.seed, tag::SMALL) % 100_000) as i64 + 1),
        );
        r.put("TenancyName", Val::string(t.tenant.clone()));
        r.put("TenantDisplayName", Val::string(t.tenant.clone()));
        r.put(
            "TenantKey",
            Val::string(uuid_from(mix2(t.seed, 0x7E4A47)).to_string()),
        );
        r.put("Type", Val::str(u.kind));
        r.put("ProvisionType", Val::str("Manual"));
        r.put(
            "LicenseType",
            if robot {
                Val::str("Unattended")
            } else {
                Val::Null
            },
        );
        r.put("Key", Val::Guid(u.key));
        r.put("MayHaveUserSession", Val::Bool(person));
        r.put("MayHaveRobotSession", Val::Bool(person || robot));
        r.put("MayHaveUnattendedSession", Val::Bool(robot));
        r.put("MayHavePersonalWorkspace", Val::Bool(person));
        r.put("RestrictToPersonalWorkspace", Val::Bool(false));
        r.put("AccountId", Val::Null);
        r.put("HasOnlyInheritedPrivileges", Val::Bool(directory));
        r.put("ExplicitMayHaveUserSession", Val::Bool(person));
        r.put("ExplicitMayHaveRobotSession", Val::Bool(person || robot));
        r.put("ExplicitMayHavePersonalWorkspace", Val::Bool(person));
        r.put("ExplicitRestrictToPersonalWorkspace", Val::Bool(false));
        r.put(
            "LastModificationTime",
            Val::opt_datetime(
                t.refs()
                    .and_then(|st| st.users_modified.get(&(i as usize)).copied())
                    .filter(|_| t.stamp_modifications),
            ),
        );
        r.put("LastModifierUserId", opt_int(admin));
        r.put("CreatorUserId", opt_int(admin));
        r.put("Id", Val::Int(u.id));
        r.finish()
    }
}
