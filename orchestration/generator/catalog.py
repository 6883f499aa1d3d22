"""Static catalogues behind the synthetic bill: regions, services, resource kinds, prices, teams.

Prices are public On-Demand list prices of us-east-1 (Linux, shared tenancy) rounded the way AWS prints
them; other regions apply a flat multiplier. They only need to be plausible, not current.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# --- regions ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    prefix: str  # usage-type prefix, e.g. "USW2"
    price_factor: float
    azs: str  # availability-zone letters


REGIONS: dict[str, Region] = {
    r.code: r
    for r in (
        Region("us-east-1", "US East (N. Virginia)", "USE1", 1.0, "abcdf"),
        Region("us-east-2", "US East (Ohio)", "USE2", 1.0, "abc"),
        Region("us-west-1", "US West (N. California)", "USW1", 1.16, "ac"),
        Region("us-west-2", "US West (Oregon)", "USW2", 1.0, "abcd"),
        Region("ca-central-1", "Canada (Central)", "CAN1", 1.1, "abd"),
        Region("eu-west-1", "EU (Ireland)", "EU", 1.08, "abc"),
        Region("eu-west-2", "EU (London)", "EUW2", 1.12, "abc"),
        Region("eu-central-1", "EU (Frankfurt)", "EUC1", 1.15, "abc"),
        Region("eu-north-1", "EU (Stockholm)", "EUN1", 1.04, "abc"),
        Region("ap-southeast-1", "Asia Pacific (Singapore)", "APS1", 1.2, "abc"),
        Region("ap-southeast-2", "Asia Pacific (Sydney)", "APS2", 1.22, "abc"),
        Region("ap-northeast-1", "Asia Pacific (Tokyo)", "APN1", 1.25, "acd"),
        Region("ap-south-1", "Asia Pacific (Mumbai)", "APS3", 1.05, "abc"),
        Region("sa-east-1", "South America (Sao Paulo)", "SAE1", 1.5, "abc"),
    )
}
DEFAULT_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
GLOBAL_REGION = "global"  # pseudo region of edge services (CloudFront)

# --- services --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    code: str  # line_item_product_code
    name: str  # product name, also the FOCUS ServiceName
    category: str  # FOCUS ServiceCategory
    subcategory: str  # FOCUS ServiceSubcategory (always a child of ``category``)
    legacy_prefix: bool  # us-east-1 usage types carry no region prefix (older services)


SERVICES: dict[str, Service] = {
    s.code: s
    for s in (
        Service("AmazonEC2", "Amazon Elastic Compute Cloud", "Compute", "Virtual Machines", True),
        Service("AmazonRDS", "Amazon Relational Database Service", "Databases", "Relational Databases", True),
        Service("AmazonS3", "Amazon Simple Storage Service", "Storage", "Object Storage", True),
        Service("AWSLambda", "AWS Lambda", "Compute", "Serverless Compute", True),
        Service("AmazonDynamoDB", "Amazon DynamoDB", "Databases", "NoSQL Databases", True),
        Service("AmazonCloudFront", "Amazon CloudFront", "Networking", "Content Delivery", False),
        Service("AmazonEKS", "Amazon Elastic Kubernetes Service", "Compute", "Containers", False),
        Service("AWSDataTransfer", "AWS Data Transfer", "Networking", "Network Connectivity", True),
        Service("AmazonCloudWatch", "AmazonCloudWatch", "Management and Governance", "Observability", True),
        Service("AmazonVPC", "Amazon Virtual Private Cloud", "Networking", "Network Infrastructure", False),
        Service("AmazonSQS", "Amazon Simple Queue Service", "Integration", "Messaging", True),
        Service("AWSELB", "Elastic Load Balancing", "Networking", "Network Routing", True),
        Service(
            "AWSSupportBusiness", "AWS Support (Business)", "Management and Governance", "Support", False
        ),
        Service(
            "ComputeSavingsPlans", "Savings Plans for AWS Compute usage", "Compute", "Other (Compute)", False
        ),
    )
}

# --- resource kinds and their meters ------------------------------------------------------------------

HOURS, STORAGE, DEMAND = 0, 1, 2  # how a meter's daily amount behaves


@dataclass(frozen=True)
class Meter:
    usage_type: str  # without region prefix; "{v}" is replaced by the variant
    operation: str  # "{op}" is replaced by the variant's operation
    unit: str
    rate: float  # us-east-1 On-Demand rate per unit; 0 means "the variant's price"
    family: str  # product_product_family
    behaviour: int  # HOURS, STORAGE or DEMAND
    sku_meter: str  # FOCUS SkuMeter
    median: float  # median daily amount (DEMAND), size (STORAGE, in GB) or hours
    sigma: float  # log-normal spread of the per-resource scale


@dataclass(frozen=True)
class Variant:
    name: str
    price: float = 0.0  # hourly price (instances) or per-unit price override
    weight: float = 1.0
    attrs: tuple[tuple[str, str], ...] = ()  # extra product attributes (product map keys)
    operation: str = ""
    normalization: float = 0.0  # size-normalisation factor of instance sizes
    family: str = ""  # instance family (product_instance_family)


@dataclass(frozen=True)
class Kind:
    key: str
    service: str  # product code
    resource_type: str  # FOCUS ResourceType
    weight: float  # share of resources
    meters: tuple[Meter, ...]
    variants: tuple[Variant, ...] = (Variant("default"),)
    az_scoped: bool = False
    regional: bool = True
    always_on_share: float = 1.0  # share of resources running 24h/day (HOURS meters)
    extra: dict[str, str] = field(default_factory=dict)


def _ec2(
    name: str, price: float, vcpu: int, mem: int, family: str, nf: float, proc: str, w: float
) -> Variant:
    return Variant(
        name,
        price,
        w,
        (
            ("vcpu", str(vcpu)),
            ("memory", f"{mem} GiB"),
            ("operating_system", "Linux"),
            ("tenancy", "Shared"),
            ("physical_processor", proc),
            ("instance_type_family", name.split(".")[0]),
            ("capacitystatus", "Used"),
            ("pre_installed_sw", "NA"),
            ("license_model", "No License required"),
        ),
        normalization=nf,
        family=family,
    )


INTEL, GRAVITON, AMD = "Intel Xeon Platinum 8175", "AWS Graviton2 Processor", "AMD EPYC 7R32"
EC2_TYPES = (
    _ec2("t3.medium", 0.0416, 2, 4, "General purpose", 2, INTEL, 0.14),
    _ec2("t3.large", 0.0832, 2, 8, "General purpose", 4, INTEL, 0.10),
    _ec2("m5.large", 0.096, 2, 8, "General purpose", 4, INTEL, 0.14),
    _ec2("m5.xlarge", 0.192, 4, 16, "General purpose", 8, INTEL, 0.12),
    _ec2("m5.2xlarge", 0.384, 8, 32, "General purpose", 16, INTEL, 0.06),
    _ec2("m6i.large", 0.096, 2, 8, "General purpose", 4, "Intel Xeon 8375C (Ice Lake)", 0.08),
    _ec2("m6i.2xlarge", 0.384, 8, 32, "General purpose", 16, "Intel Xeon 8375C (Ice Lake)", 0.05),
    _ec2("c5.xlarge", 0.17, 4, 8, "Compute optimized", 8, INTEL, 0.06),
    _ec2("c6g.xlarge", 0.136, 4, 8, "Compute optimized", 8, GRAVITON, 0.05),
    _ec2("c5.4xlarge", 0.68, 16, 32, "Compute optimized", 32, INTEL, 0.03),
    _ec2("r5.large", 0.126, 2, 16, "Memory optimized", 4, INTEL, 0.06),
    _ec2("r5.2xlarge", 0.504, 8, 64, "Memory optimized", 16, INTEL, 0.04),
    _ec2("r6g.xlarge", 0.2016, 4, 32, "Memory optimized", 8, GRAVITON, 0.04),
    _ec2("g5.xlarge", 1.006, 4, 16, "GPU instance", 8, AMD, 0.01),
)


def _rds(cls: str, price: float, engine: str, code: str, nf: float, w: float) -> Variant:
    return Variant(
        f"{cls}|{engine}",
        price,
        w,
        (
            ("database_engine", engine),
            ("deployment_option", "Single-AZ"),
            ("instance_type_family", cls.split(".")[1]),
            ("license_model", "No license required"),
            ("vcpu", {"db.t3.medium": "2", "db.m5.large": "2", "db.r6g.large": "2"}.get(cls, "4")),
        ),
        operation=f"CreateDBInstance:{code}",
        normalization=nf,
    )


RDS_CLASSES = (
    _rds("db.t3.medium", 0.072, "PostgreSQL", "0014", 2, 0.25),
    _rds("db.m5.large", 0.178, "PostgreSQL", "0014", 4, 0.2),
    _rds("db.r6g.large", 0.225, "PostgreSQL", "0014", 4, 0.2),
    _rds("db.r6g.xlarge", 0.45, "PostgreSQL", "0014", 8, 0.1),
    _rds("db.m5.large", 0.171, "MySQL", "0002", 4, 0.15),
    _rds("db.r6g.large", 0.215, "MySQL", "0002", 4, 0.1),
)

KINDS: tuple[Kind, ...] = (
    Kind(
        "ec2_instance", "AmazonEC2", "Instance", 0.22,
        (Meter("BoxUsage:{v}", "RunInstances", "Hrs", 0, "Compute Instance", HOURS, "Compute Usage", 24, 0),),
        EC2_TYPES, az_scoped=True, always_on_share=0.7,
    ),
    Kind(
        "ebs_volume", "AmazonEC2", "Volume", 0.17,
        (Meter("EBS:VolumeUsage.{v}", "{op}", "GB-Mo", 0, "Storage", STORAGE, "Storage", 150, 1.0),),
        (
            Variant("gp3", 0.08, 0.6, (("volume_api_name", "gp3"), ("volume_type", "General Purpose")),
                    operation="CreateVolume-Gp3"),
            Variant("gp2", 0.10, 0.3, (("volume_api_name", "gp2"), ("volume_type", "General Purpose")),
                    operation="CreateVolume-Gp2"),
            Variant("st1", 0.045, 0.1, (("volume_api_name", "st1"), ("volume_type", "Throughput Optimized HDD")),
                    operation="CreateVolume-St1"),
        ),
        az_scoped=True,
    ),
    Kind(
        "ebs_snapshot", "AmazonEC2", "Snapshot", 0.05,
        (Meter("EBS:SnapshotUsage", "CreateSnapshot", "GB-Mo", 0.05, "Storage Snapshot", STORAGE, "Storage", 300, 1.2),),
    ),
    Kind(
        "nat_gateway", "AmazonEC2", "NAT Gateway", 0.015,
        (
            Meter("NatGateway-Hours", "NatGateway", "Hrs", 0.045, "NAT Gateway", HOURS, "Hours", 24, 0),
            Meter("NatGateway-Bytes", "NatGateway", "GB", 0.045, "NAT Gateway", DEMAND, "Data Processed", 120, 1.0),
        ),
    ),
    Kind(
        "rds_instance", "AmazonRDS", "DB Instance", 0.04,
        (
            Meter("InstanceUsage:{v}", "{op}", "Hrs", 0, "Database Instance", HOURS, "Instance Usage", 24, 0),
            Meter("RDS:GP3-Storage", "{op}", "GB-Mo", 0.115, "Database Storage", STORAGE, "Storage", 200, 1.0),
        ),
        RDS_CLASSES, az_scoped=True,
    ),
    Kind(
        "s3_bucket", "AmazonS3", "Bucket", 0.08,
        (
            Meter("TimedStorage-ByteHrs", "StandardStorage", "GB-Mo", 0.023, "Storage", STORAGE, "Storage", 400, 1.8),
            Meter("Requests-Tier1", "PutObject", "Requests", 0.000005, "API Request", DEMAND, "Requests", 20000, 1.4),
            Meter("Requests-Tier2", "GetObject", "Requests", 0.0000004, "API Request", DEMAND, "Requests", 200000, 1.4),
        ),
        extra={"storage_class": "General Purpose", "volume_type": "Standard"},
    ),
    Kind(
        "lambda_function", "AWSLambda", "Function", 0.11,
        (
            Meter("Lambda-GB-Second{v}", "Invoke", "Lambda-GB-Second", 0, "Serverless", DEMAND, "Compute", 40000, 1.4),
            Meter("Request{v}", "Invoke", "Requests", 0.0000002, "Serverless", DEMAND, "Requests", 300000, 1.4),
        ),
        (Variant("", 0.0000166667, 0.7), Variant("-ARM", 0.0000133334, 0.3)),
    ),
    Kind(
        "dynamodb_table", "AmazonDynamoDB", "Table", 0.05,
        (
            Meter("TimedStorage-ByteHrs", "StandardStorage", "GB-Mo", 0.25, "Database Storage", STORAGE, "Storage", 15, 1.2),
            Meter("ReadRequestUnits", "GetItem", "ReadRequestUnits", 0.00000025, "Amazon DynamoDB PayPerRequest Throughput",
                  DEMAND, "Read Requests", 2_000_000, 1.3),
            Meter("WriteRequestUnits", "PutItem", "WriteRequestUnits", 0.00000125, "Amazon DynamoDB PayPerRequest Throughput",
                  DEMAND, "Write Requests", 400_000, 1.3),
        ),
    ),
    Kind(
        "cloudfront_distribution", "AmazonCloudFront", "Distribution", 0.02,
        (
            Meter("{v}-DataTransfer-Out-Bytes", "GET", "GB", 0, "Data Transfer", DEMAND, "Data Transfer", 25, 1.3),
            Meter("{v}-Requests-Tier1", "GET", "Requests", 0.00000075, "Request", DEMAND, "Requests", 2_000_000, 1.3),
        ),
        (Variant("US", 0.085, 0.6, (("location", "United States"),)), Variant("EU", 0.085, 0.4, (("location", "Europe"),))),
        regional=False,
    ),
    Kind(
        "eks_cluster", "AmazonEKS", "Cluster", 0.015,
        (Meter("AmazonEKS-Hours:perCluster", "CreateOperation", "Hrs", 0.10, "Compute", HOURS, "Cluster Hours", 24, 0),),
    ),
    Kind(
        "data_transfer", "AWSDataTransfer", "Instance", 0.06,
        (
            Meter("DataTransfer-Out-Bytes", "RunInstances", "GB", 0.09, "Data Transfer", DEMAND, "Data Transfer Out", 15, 1.2),
            Meter("DataTransfer-Regional-Bytes", "InterZone-Out", "GB", 0.01, "Data Transfer", DEMAND, "Inter AZ", 60, 1.2),
        ),
    ),
    Kind(
        "cloudwatch_logs", "AmazonCloudWatch", "Log Group", 0.07,
        (
            Meter("DataProcessing-Bytes", "PutLogEvents", "GB", 0.50, "Data Payload", DEMAND, "Log Ingestion", 3, 1.2),
            Meter("TimedStorage-ByteHrs", "HourlyStorageMetering", "GB-Mo", 0.03, "Storage Snapshot", STORAGE, "Log Storage",
                  200, 1.3),
        ),
    ),
    Kind(
        "vpc_endpoint", "AmazonVPC", "VPC Endpoint", 0.02,
        (
            Meter("VpcEndpoint-Hours", "VpcEndpoint", "Hrs", 0.01, "VpcEndpoint", HOURS, "Endpoint Hours", 24, 0),
            Meter("VpcEndpoint-Bytes", "VpcEndpoint", "GB", 0.01, "VpcEndpoint", DEMAND, "Data Processed", 50, 1.0),
        ),
    ),
    Kind(
        "public_ipv4", "AmazonVPC", "IP Address", 0.02,
        (Meter("PublicIPv4:InUseAddress", "AssociateAddressVPC", "Hrs", 0.005, "VPC Public IPv4 Address", HOURS,
               "Public IPv4 Hours", 24, 0),),
    ),
    Kind(
        "sqs_queue", "AmazonSQS", "Queue", 0.03,
        (Meter("Requests-RBP", "SendMessage", "Requests", 0.0000004, "API Request", DEMAND, "Requests", 3_000_000, 1.3),),
        extra={"queue_type": "Standard", "message_delivery_frequency": "Multiple times",
               "message_delivery_order": "Not Guaranteed"},
    ),
    Kind(
        "load_balancer", "AWSELB", "Load Balancer", 0.02,
        (
            Meter("LoadBalancerUsage", "LoadBalancing:Application", "Hrs", 0.0225, "Load Balancer-Application", HOURS,
                  "Load Balancer Hours", 24, 0),
            Meter("LCUUsage", "LoadBalancing:Application", "LCU-Hrs", 0.008, "Load Balancer-Application", DEMAND,
                  "Capacity Units", 60, 1.0),
        ),
    ),
)  # fmt: skip
KIND_INDEX = {k.key: i for i, k in enumerate(KINDS)}
MAX_METERS = max(len(k.meters) for k in KINDS)

# Kinds whose cost is driven by demand (requests, bytes): anomalies are injected on these.
ANOMALY_KINDS = (
    "lambda_function", "nat_gateway", "data_transfer", "cloudfront_distribution", "sqs_queue",
    "dynamodb_table", "cloudwatch_logs",
)  # fmt: skip

# --- commitments -----------------------------------------------------------------------------------

# Reserved Instance discount off On-Demand by (term years, purchase option).
RI_DISCOUNT = {
    (1, "No Upfront"): 0.28, (1, "Partial Upfront"): 0.34, (1, "All Upfront"): 0.37,
    (3, "No Upfront"): 0.46, (3, "Partial Upfront"): 0.55, (3, "All Upfront"): 0.60,
}  # fmt: skip
UPFRONT_SHARE = {"No Upfront": 0.0, "Partial Upfront": 0.5, "All Upfront": 1.0}
# Offer-term codes of the price list, by (term years, option).
RI_OFFER_CODE = {
    (1, "No Upfront"): "4NA7Y494T4", (1, "Partial Upfront"): "HU7G6KETJZ", (1, "All Upfront"): "6QCMYABX3D",
    (3, "No Upfront"): "BPH4J8HBKS", (3, "Partial Upfront"): "38NPMPTW36", (3, "All Upfront"): "NQ3QZPMQV9",
}  # fmt: skip
ON_DEMAND_OFFER_CODE = "JRTCKXETXF"
PRICE_DIMENSION_CODE = "6YS6EN2CT7"
SP_DISCOUNT = {"ComputeSavingsPlans": 0.27, "EC2InstanceSavingsPlans": 0.36}

# --- organisation: teams, products, accounts ----------------------------------------------------------

TEAMS = ("payments", "search", "checkout", "platform", "data")
PRODUCTS = ("storefront", "mobile-app", "analytics", "partner-api")
TEAM_PRODUCTS = {
    "payments": ("storefront", "mobile-app", "partner-api"),
    "search": ("storefront", "mobile-app"),
    "checkout": ("storefront", "mobile-app"),
    "platform": ("storefront", "mobile-app", "analytics", "partner-api"),
    "data": ("analytics",),
}
COST_CENTERS = {"payments": "CC-1001", "search": "CC-1002", "checkout": "CC-1003", "platform": "CC-1004",
                "data": "CC-1005"}  # fmt: skip
BUSINESS_UNITS = {"payments": "Commerce", "search": "Discovery", "checkout": "Commerce", "platform": "Engineering",
                  "data": "Analytics"}  # fmt: skip
# Daily business volume per product at the start of the window (requests), and its ratios.
PRODUCT_DRIVERS = {
    "storefront": (4_000_000, 0.021, 0.045),  # requests/day, transactions per request, customers per request
    "mobile-app": (2_500_000, 0.015, 0.060),
    "analytics": (150_000, 0.002, 0.004),
    "partner-api": (800_000, 0.035, 0.0015),
}

USAGE_ACCOUNTS = (
    ("payments-prod", "payments", "prod", 3.0),
    ("search-prod", "search", "prod", 2.5),
    ("checkout-prod", "checkout", "prod", 2.5),
    ("platform-shared", "platform", "prod", 3.0),
    ("data-lake", "data", "prod", 2.5),
    ("payments-staging", "payments", "staging", 1.0),
    ("checkout-dev", "checkout", "dev", 0.6),
    ("sandbox", "platform", "dev", 0.5),
    ("search-staging", "search", "staging", 0.8),
    ("data-dev", "data", "dev", 0.5),
    ("platform-security", "platform", "prod", 0.8),
    ("analytics-prod", "data", "prod", 1.5),
)

PAYERS = (
    # name, invoicing entity (also legal entity), tax type, tax rate
    ("acme-management", "Amazon Web Services, Inc.", "USSalesTax", 0.0625),
    ("acme-emea-management", "Amazon Web Services EMEA SARL", "VAT", 0.20),
    ("acme-canada-management", "Amazon Web Services Canada, Inc.", "Canada Tax", 0.13),
)

ENV_VALUES = {
    "prod": (("prod", 0.85), ("production", 0.10), ("Prod", 0.05)),
    "staging": (("staging", 0.9), ("stage", 0.1)),
    "dev": (("dev", 0.85), ("development", 0.15)),
}
CREATED_BY = (
    "",
    "AssumedRole:AROA3XFRBF23EXAMPLE:terraform",
    "AssumedRole:AROA3XFRBF23EXAMPLE:github-actions",
    "IAMUser:AIDA3XFRBF23EXAMPLE:alice",
    "AssumedRole:AROA3XFRBF23EXAMPLE:karpenter",
)

# Legacy CUR tag columns in header order, with the raw tag key each carries.
LEGACY_TAG_COLUMNS = (
    ("resourceTags/aws:createdBy", "aws:createdBy"),
    ("resourceTags/user:Environment", "Environment"),
    ("resourceTags/user:Team", "Team"),
    ("resourceTags/user:cost_center", "cost_center"),
    ("resourceTags/user:env", "env"),
    ("resourceTags/user:environment", "environment"),
    ("resourceTags/user:product", "product"),
    ("resourceTags/user:team", "team"),
)
COST_CATEGORY_KEYS = ("BusinessUnit", "Environment")
