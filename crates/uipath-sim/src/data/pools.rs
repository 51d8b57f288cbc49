//! Fixed vocabularies the generators draw names and texts from.
//!
//! Everything is `'static`, so a generated row borrows its strings instead of allocating
//! them. The vocabulary reads like a mid-sized company's automation estate (finance,
//! HR, operations); no real company or person is meant.

/// What a queue item's `SpecificContent` looks like for a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Invoice,
    Order,
    Employee,
    Ticket,
    Payment,
    Claim,
}

/// One automated process: its package name, what it does, its typical run time and the
/// queue it works (if it is transactional).
#[derive(Debug)]
pub struct ProcessSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// Typical job duration in seconds.
    pub mean_secs: u32,
    pub queue: &'static str,
    pub content: Content,
}

const fn p(
    name: &'static str,
    description: &'static str,
    mean_secs: u32,
    queue: &'static str,
    content: Content,
) -> ProcessSpec {
    ProcessSpec {
        name,
        description,
        mean_secs,
        queue,
        content,
    }
}

use Content::*;

#[rustfmt::skip]
pub static PROCESSES: &[ProcessSpec] = &[
    p("Invoice_Processing", "Reads supplier invoices and posts them to the ERP", 420, "Invoices", Invoice),
    p("Vendor_Onboarding", "Creates vendor master data from onboarding forms", 900, "VendorRequests", Invoice),
    p("Payment_Reconciliation", "Matches bank statement lines with open items", 1_500, "BankStatementLines", Payment),
    p("PO_Creation", "Creates purchase orders from approved requisitions", 300, "PurchaseRequisitions", Order),
    p("Sales_Order_Entry", "Keys web-shop orders into the order system", 240, "SalesOrders", Order),
    p("Credit_Check", "Runs credit checks for new customers", 180, "CreditChecks", Order),
    p("Employee_Onboarding", "Provisions accounts and equipment for new hires", 1_200, "NewHires", Employee),
    p("Employee_Offboarding", "Revokes access and collects equipment for leavers", 900, "Leavers", Employee),
    p("Payroll_Validation", "Cross-checks payroll changes against contracts", 2_400, "PayrollChanges", Employee),
    p("Timesheet_Reminder", "Reminds employees about missing timesheets", 120, "Timesheets", Employee),
    p("Ticket_Triage", "Classifies and routes incoming service tickets", 90, "Tickets", Ticket),
    p("Password_Reset", "Handles self-service password reset requests", 60, "PasswordResets", Ticket),
    p("User_Access_Review", "Collects manager approvals for access reviews", 1_800, "AccessReviews", Ticket),
    p("Claims_Intake", "Registers insurance claims from e-mail", 360, "Claims", Claim),
    p("Claims_Adjudication", "Applies adjudication rules to registered claims", 600, "ClaimDecisions", Claim),
    p("Refund_Processing", "Issues customer refunds approved by support", 200, "Refunds", Payment),
    p("Month_End_Close", "Runs the month-end closing checklist", 5_400, "CloseTasks", Payment),
    p("FX_Rate_Update", "Loads daily exchange rates into the ERP", 150, "FxRates", Payment),
    p("Expense_Audit", "Audits expense reports against the travel policy", 480, "ExpenseReports", Invoice),
    p("Contract_Renewal", "Flags contracts due for renewal and drafts notices", 720, "Contracts", Order),
    p("Shipment_Tracking", "Updates order status from carrier tracking pages", 300, "Shipments", Order),
    p("Inventory_Sync", "Synchronizes stock levels between warehouse and shop", 2_700, "StockMovements", Order),
    p("Report_Distribution", "Builds and e-mails the daily operations reports", 600, "Reports", Ticket),
    p("Customer_Address_Update", "Applies address changes to customer records", 150, "AddressChanges", Order),
    p("Benefits_Enrollment", "Enrolls employees in benefit plans", 540, "Enrollments", Employee),
    p("KYC_Document_Check", "Verifies identity documents for new accounts", 420, "KycCases", Claim),
    p("Dunning_Letters", "Sends reminder letters for overdue invoices", 360, "OverdueInvoices", Invoice),
    p("GL_Journal_Upload", "Uploads journal entries prepared in spreadsheets", 900, "Journals", Payment),
];

#[rustfmt::skip]
pub static FIRST_NAMES: &[&str] = &[
    "Alice", "Bruno", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Karin", "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Samir", "Tara",
    "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Anton", "Bianca", "Carlos", "Dana",
];

#[rustfmt::skip]
pub static LAST_NAMES: &[&str] = &[
    "Andersen", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen",
    "Ito", "Jansen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Olsen", "Petrov", "Quint",
    "Rossi", "Schmidt", "Tanaka", "Urban", "Varga", "Weber", "Xu", "Young", "Zimmermann",
];

#[rustfmt::skip]
pub static COMPANIES: &[&str] = &[
    "Northwind Traders", "Blue Harbor Logistics", "Granite Office Supply", "Meridian Foods",
    "Alder & Finch", "Sunrise Paper Co", "Copperline Metals", "Everfield Energy",
    "Lakeside Printing", "Orbit Components", "Pinecrest Medical", "Redwood Analytics",
    "Silverleaf Textiles", "Tidewater Freight", "Vantage Tools", "Westbrook Catering",
];

pub static CURRENCIES: &[&str] = &["EUR", "USD", "GBP", "CHF", "SEK"];

pub static DEPARTMENTS: &[&str] = &[
    "Finance",
    "Sales",
    "Engineering",
    "Operations",
    "Legal",
    "Marketing",
    "Support",
];

/// Names for generated extra folders.
#[rustfmt::skip]
pub static EXTRA_FOLDERS: &[&str] = &[
    "Procurement", "Logistics", "Customer Service", "IT", "Legal", "Sales", "Treasury",
    "Compliance", "Payroll", "Facilities", "Marketing", "Claims",
];

/// A job failure: the `Info` text, the `JobError` code/title/category.
#[derive(Debug)]
pub struct JobFault {
    pub info: &'static str,
    pub code: &'static str,
    pub title: &'static str,
    pub category: &'static str,
}

#[rustfmt::skip]
pub static JOB_FAULTS: &[JobFault] = &[
    JobFault {
        info: "System.TimeoutException: Activity timeout exceeded. Element could not be found within 30 seconds.",
        code: "Robot.TimeoutException",
        title: "Activity timeout exceeded",
        category: "User",
    },
    JobFault {
        info: "UiPath.Core.SelectorNotFoundException: Could not find the user-interface (UI) element for this action.",
        code: "Robot.SelectorNotFoundException",
        title: "Selector not found",
        category: "User",
    },
    JobFault {
        info: "System.NullReferenceException: Object reference not set to an instance of an object.",
        code: "Robot.NullReferenceException",
        title: "Object reference not set to an instance of an object",
        category: "User",
    },
    JobFault {
        info: "System.IO.IOException: The process cannot access the file because it is being used by another process.",
        code: "Robot.IOException",
        title: "File in use",
        category: "User",
    },
    JobFault {
        info: "Could not start executor. The robot user is not logged on and the session could not be created.",
        code: "Robot.SessionCreationFailed",
        title: "Could not create the robot session",
        category: "System",
    },
    JobFault {
        info: "Job was terminated because the robot machine was disconnected.",
        code: "Orchestrator.RobotDisconnected",
        title: "Robot disconnected",
        category: "System",
    },
];

/// Queue item failures: (reason, details) by exception type.
#[rustfmt::skip]
pub static BUSINESS_EXCEPTIONS: &[(&str, &str)] = &[
    ("Amount exceeds the approval limit", "The document total is above the limit configured for automatic posting."),
    ("Duplicate document", "A document with the same reference was already processed."),
    ("Missing mandatory field", "The input form does not contain a cost center."),
    ("Customer not found", "No customer record matches the given number."),
    ("Validation failed", "Bank account number failed the checksum test."),
];

#[rustfmt::skip]
pub static APPLICATION_EXCEPTIONS: &[(&str, &str)] = &[
    ("Timeout waiting for the ERP window", "UiPath.Core.Activities.WaitUiElementAppear timed out after 30000 ms."),
    ("Selector not found", "Could not find the user-interface (UI) element for this action."),
    ("Web service unavailable", "The remote server returned an error: (503) Server Unavailable."),
    ("Session expired", "The application session expired while the transaction was in progress."),
];

/// Routine log lines a process writes while it works.
pub static LOG_INFO: &[&str] = &[
    "Opening the application",
    "Logged in successfully",
    "Reading input file",
    "Processing transaction",
    "Transaction completed successfully",
    "Getting next queue item",
    "Writing results to the report",
    "Sending notification e-mail",
    "Closing all applications",
];

pub static LOG_WARN: &[&str] = &[
    "Retrying element search (attempt 2 of 3)",
    "Input file contains empty rows; they were skipped",
    "Application responded slowly",
];

pub static LOG_TRACE: &[&str] = &[
    "Entering workflow Main.xaml",
    "Variable assigned",
    "Exiting workflow Process.xaml",
];

/// One audited operation: component, action, controller and method, and how it reads.
#[derive(Debug)]
pub struct AuditOp {
    pub component: &'static str,
    pub action: &'static str,
    pub service: &'static str,
    pub method: &'static str,
    pub verb: &'static str,
    pub weight: u32,
}

const fn a(
    component: &'static str,
    action: &'static str,
    service: &'static str,
    method: &'static str,
    verb: &'static str,
    weight: u32,
) -> AuditOp {
    AuditOp {
        component,
        action,
        service,
        method,
        verb,
        weight,
    }
}

#[rustfmt::skip]
pub static AUDIT_OPS: &[AuditOp] = &[
    a("Jobs", "StartJob", "Jobs", "StartJobs", "started a job for process", 30),
    a("Jobs", "StopJob", "Jobs", "StopJob", "stopped a job of process", 4),
    a("Processes", "Update", "Releases", "UpdateToLatestPackageVersion", "updated process", 8),
    a("Processes", "Create", "Releases", "Post", "created process", 2),
    a("Packages", "Upload", "Processes", "UploadPackage", "uploaded package", 6),
    a("Queues", "Update", "QueueDefinitions", "Put", "updated queue", 3),
    a("Queues", "Create", "QueueDefinitions", "Post", "created queue", 1),
    a("Schedules", "Toggle", "ProcessSchedules", "SetEnabled", "toggled trigger", 5),
    a("Schedules", "Update", "ProcessSchedules", "Put", "updated trigger", 3),
    a("Assets", "Update", "Assets", "Put", "updated asset", 6),
    a("Robots", "Update", "Robots", "Put", "updated robot", 2),
    a("Machines", "Update", "Machines", "Put", "updated machine", 2),
    a("Users", "Update", "Users", "Put", "updated user", 3),
    a("Users", "Create", "Users", "Post", "created user", 1),
    a("Folders", "Assign", "Folders", "AssignUsers", "assigned users to folder", 2),
    a("Settings", "Update", "Settings", "PutById", "changed setting", 1),
    a("Sessions", "Toggle", "Sessions", "SetMaintenanceMode", "toggled maintenance mode of", 1),
];

/// A trigger's schedule: the Quartz cron Orchestrator stores, its summary, and when it
/// fires (UTC hour/minute, weekdays only or every day).
#[derive(Debug)]
pub struct Cron {
    pub expression: &'static str,
    pub summary: &'static str,
    pub hour: u32,
    pub minute: u32,
    pub weekdays_only: bool,
}

#[rustfmt::skip]
pub static CRONS: &[Cron] = &[
    Cron { expression: "0 0 6 ? * MON-FRI *", summary: "At 06:00, Monday through Friday", hour: 6, minute: 0, weekdays_only: true },
    Cron { expression: "0 30 7 ? * MON-FRI *", summary: "At 07:30, Monday through Friday", hour: 7, minute: 30, weekdays_only: true },
    Cron { expression: "0 0 2 ? * * *", summary: "At 02:00, every day", hour: 2, minute: 0, weekdays_only: false },
    Cron { expression: "0 15 12 ? * MON-FRI *", summary: "At 12:15, Monday through Friday", hour: 12, minute: 15, weekdays_only: true },
    Cron { expression: "0 0 18 ? * * *", summary: "At 18:00, every day", hour: 18, minute: 0, weekdays_only: false },
    Cron { expression: "0 45 22 ? * MON-FRI *", summary: "At 22:45, Monday through Friday", hour: 22, minute: 45, weekdays_only: true },
];

/// Robot versions seen on machines and sessions.
pub static ROBOT_VERSIONS: &[&str] = &["23.10.8", "24.10.3", "24.10.6", "25.4.1"];

/// The Windows domain robot accounts live in.
pub const DOMAIN: &str = "CORP";
