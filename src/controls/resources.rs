//! Resource identity: ARNs, AWS Backup resource types and their AWS Config types.

use crate::arn::Arn;

/// A backup-supported resource type: the AWS Backup short name and the AWS Config type
/// (reference 1.1), in the order the reference lists them.
const TYPES: &[(&str, &str)] = &[
    ("Aurora", "AWS::RDS::DBCluster"),
    ("DynamoDB", "AWS::DynamoDB::Table"),
    ("EBS", "AWS::EC2::Volume"),
    ("EC2", "AWS::EC2::Instance"),
    ("EFS", "AWS::EFS::FileSystem"),
    ("FSx", "AWS::FSx::FileSystem"),
    ("RDS", "AWS::RDS::DBInstance"),
    ("S3", "AWS::S3::Bucket"),
    ("Storage Gateway", "AWS::StorageGateway::Volume"),
    ("VirtualMachine", "AWS::BackupGateway::VirtualMachine"),
];

/// The Config type of a backup plan, vault and recovery point.
pub const PLAN_TYPE: &str = "AWS::Backup::BackupPlan";
/// See [`PLAN_TYPE`].
pub const VAULT_TYPE: &str = "AWS::Backup::BackupVault";
/// See [`PLAN_TYPE`].
pub const RECOVERY_POINT_TYPE: &str = "AWS::Backup::RecoveryPoint";

/// The AWS Backup short type of a resource ARN, if it is a type AWS Backup protects.
pub fn short_type(arn: &str) -> Option<&'static str> {
    let Arn { service, resource, .. } = Arn::parse(arn)?;
    Some(match service {
        "ec2" if resource.starts_with("instance/") => "EC2",
        "ec2" if resource.starts_with("volume/") => "EBS",
        "rds" if resource.starts_with("cluster:") => "Aurora",
        "rds" if resource.starts_with("db:") => "RDS",
        "dynamodb" if resource.starts_with("table/") && !resource.contains("/stream/") => "DynamoDB",
        "elasticfilesystem" if resource.starts_with("file-system/") => "EFS",
        "fsx" if resource.starts_with("file-system/") => "FSx",
        "s3" if !resource.contains('/') => "S3",
        "storagegateway" if resource.contains("/volume/") => "Storage Gateway",
        "backup-gateway" if resource.starts_with("vm/") => "VirtualMachine",
        _ => return None,
    })
}

/// The Config type of a short type.
pub fn config_type(short: &str) -> Option<&'static str> {
    TYPES.iter().find(|(s, _)| s.eq_ignore_ascii_case(short)).map(|(_, c)| *c)
}

/// The id of a resource: the last component of its ARN (instance id, volume id, table name,
/// bucket name, plan id, vault name, recovery point id).
pub fn resource_id(arn: &str) -> &str {
    Arn::parse(arn).map_or_else(|| arn.rsplit(['/', ':']).next().unwrap_or(arn), |a| a.resource_id())
}

/// Account and region of an ARN (`arn:aws:backup:us-west-2:111122223333:backup-vault:x`).
pub fn arn_account_region(arn: &str) -> Option<(&str, &str)> {
    Arn::parse(arn).map(|a| (a.account, a.region))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_ids() {
        for (arn, short, id) in [
            ("arn:aws:ec2:us-east-1:111122223333:instance/i-0abc", "EC2", "i-0abc"),
            ("arn:aws:ec2:us-east-1:111122223333:volume/vol-1", "EBS", "vol-1"),
            ("arn:aws:rds:us-east-1:111122223333:db:billing", "RDS", "billing"),
            ("arn:aws:rds:us-east-1:111122223333:cluster:aurora-1", "Aurora", "aurora-1"),
            ("arn:aws:dynamodb:us-east-1:111122223333:table/orders", "DynamoDB", "orders"),
            ("arn:aws:elasticfilesystem:us-east-1:111122223333:file-system/fs-63c74e66", "EFS", "fs-63c74e66"),
            ("arn:aws:s3:::my-bucket", "S3", "my-bucket"),
        ] {
            assert_eq!(short_type(arn), Some(short), "{arn}");
            assert_eq!(resource_id(arn), id, "{arn}");
        }
        assert_eq!(short_type("arn:aws:lambda:us-east-1:111122223333:function:f"), None);
        assert_eq!(resource_id("arn:aws:backup:us-east-1:111122223333:recovery-point:abc-1"), "abc-1");
    }
}
