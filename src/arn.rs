//! Amazon Resource Names: `arn:<partition>:<service>:<region>:<account>:<resource>`, parsed once,
//! fields by name. Borrowed: parsing allocates nothing.

/// A parsed ARN. Region and account may be empty (S3 buckets, IAM roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// Everything after the fifth colon: `instance/i-0abc`, `db:orders`, `backup-vault:main`.
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Parses `text`; `None` unless it starts with `arn:` and has all six fields.
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        let mut p = text.splitn(6, ':');
        let (prefix, partition, service, region, account, resource) =
            (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
        (prefix == "arn").then_some(Arn { partition, service, region, account, resource })
    }

    /// The last component of the resource (`i-0abc`, `orders`, `main`).
    pub fn resource_id(&self) -> &'a str {
        self.resource.rsplit(['/', ':']).next().unwrap_or(self.resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_by_name() {
        let a = Arn::parse("arn:aws:ec2:us-east-1:111122223333:instance/i-0abc").unwrap();
        assert_eq!((a.partition, a.service, a.region, a.account), ("aws", "ec2", "us-east-1", "111122223333"));
        assert_eq!((a.resource, a.resource_id()), ("instance/i-0abc", "i-0abc"));
        let bucket = Arn::parse("arn:aws:s3:::my-bucket").unwrap();
        assert_eq!((bucket.region, bucket.account, bucket.resource_id()), ("", "", "my-bucket"));
        assert_eq!(Arn::parse("arn:aws:s3"), None);
        assert_eq!(Arn::parse("urn:aws:ec2:us-east-1:111122223333:volume/v"), None);
    }
}
