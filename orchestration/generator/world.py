"""The synthetic organisation behind every output format.

One ``World`` is built per configuration. It holds the billing periods, the accounts, the SKU table (usage
SKUs and the pseudo SKUs of fees, taxes and credits), the resource pool, the commitments, the injected
anomalies and the daily business demand per product. Everything here depends on the seed and the
configuration, never on the output format, so labels and business inputs are identical across formats.

The resource pool is an ordered, prefix-stable sequence: resource ``i`` has the same attributes whatever
the pool size. A billing period uses a prefix of it (plus a few "filler" resources that ran only part of
the month) sized so that the period has exactly the requested number of line items. The first
``core_size`` resources exist in every period and format; commitments and anomalies live there.
"""

from __future__ import annotations

import calendar
import functools
import json
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa

from orchestration.generator import catalog as cat
from orchestration.generator.config import GeneratorConfig
from orchestration.generator.rand import generator, hash64, hash_normal, hash_uniform, hex_digest, uuid_like
from orchestration.ingest.schema import snake_case_cur_header

MAP_STR = pa.map_(pa.string(), pa.string())
UNIT = 10**10  # money and rates are carried as integers of 1e-10 dollars
SEASON_DEMAND = np.array([1.0, 1.02, 1.03, 1.01, 0.97, 0.74, 0.70])  # Monday..Sunday
SEASON_HOURS = np.array([1.0, 1.0, 1.0, 0.98, 0.94, 0.55, 0.5])
ENV_SCALE = {"prod": 1.0, "staging": 0.3, "dev": 0.15}

# Hash streams (any distinct constants).
S_KIND, S_VARIANT, S_REGION, S_ACCOUNT, S_AZ, S_ALWAYS, S_UTIL, S_BASE, S_GROWTH = range(1, 10)
S_TAGGED, S_TEAM, S_PRODUCT, S_ENV, S_KEYS, S_CREATED, S_RID, S_COVER, S_NOISE = range(10, 19)


def fmt_rate(value: float) -> str:
    """A unit rate as AWS prints it: plain decimal, no trailing zeros."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0.0"


def iso_ms(d: date) -> str:
    return f"{d.isoformat()}T00:00:00.000Z"


def add_months(d: date, months: int) -> date:
    n = d.year * 12 + d.month - 1 + months
    return date(n // 12, n % 12 + 1, 1)


# --- periods -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    index: int
    start: date
    end: date  # exclusive: first day of the next month
    days: int
    day_offset: int  # window day index of this period's first day

    @property
    def label(self) -> str:
        return f"{self.start.year:04d}-{self.start.month:02d}"

    @property
    def hours(self) -> int:
        return self.days * 24

    @property
    def month_number(self) -> int:
        return self.start.year * 12 + self.start.month - 1


def build_periods(config: GeneratorConfig) -> list[Period]:
    year, month = map(int, config.start.split("-"))
    first = date(year, month, 1)
    periods, offset = [], 0
    for i in range(config.months):
        start = add_months(first, i)
        days = calendar.monthrange(start.year, start.month)[1]
        periods.append(Period(i, start, add_months(start, 1), days, offset))
        offset += days
    return periods


# --- accounts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    index: int
    account_id: str
    name: str
    payer: int  # index of the billing (payer) account; itself for a payer
    is_payer: bool
    team: str
    environment: str
    weight: float


@dataclass(frozen=True)
class PayerProfile:
    invoicing_entity: str
    tax_type: str
    tax_rate: float


def build_accounts(config: GeneratorConfig) -> tuple[list[Account], dict[int, PayerProfile]]:
    rng = generator(config.seed, 101)
    ids: set[str] = set()
    while len(ids) < config.billing_accounts + config.usage_accounts:
        if rng.random() < 0.25:  # a leading zero, which a numeric reader would lose
            ids.add(f"{int(rng.integers(10**9, 10**11)):012d}")
        else:
            ids.add(f"{int(rng.integers(10**11, 10**12)):012d}")
    id_list = sorted(ids, key=lambda s: hex_digest(config.seed, s))
    accounts: list[Account] = []
    profiles: dict[int, PayerProfile] = {}
    for p in range(config.billing_accounts):
        name, entity, tax_type, tax_rate = cat.PAYERS[p]
        accounts.append(Account(p, id_list[p], name, p, True, "platform", "prod", 0.0))
        profiles[p] = PayerProfile(entity, tax_type, tax_rate)
    for u in range(config.usage_accounts):
        if u < len(cat.USAGE_ACCOUNTS):
            name, team, env, weight = cat.USAGE_ACCOUNTS[u]
        else:
            team = cat.TEAMS[u % len(cat.TEAMS)]
            env = ("prod", "staging", "dev")[u % 3]
            name, weight = f"{team}-workload-{u:02d}", ENV_SCALE[env] * 2
        index = config.billing_accounts + u
        accounts.append(
            Account(index, id_list[index], name, u % config.billing_accounts, False, team, env, weight)
        )
    return accounts, profiles


# --- SKU table ---------------------------------------------------------------------------------------

SKU_STRING_FIELDS = (
    "product_code",
    "usage_type",
    "operation",
    "unit",
    "product_family",
    "region_code",
    "region_name",
    "location",
    "location_type",
    "from_location",
    "from_location_type",
    "from_region_code",
    "to_location",
    "to_location_type",
    "to_region_code",
    "instance_type",
    "instance_family",
    "sku",
    "rate_code",
    "rate_id",
    "rate_str",
    "fee_code",
    "fee_description",
    "desc_usage",
    "desc_ri",
    "desc_sp",
    "desc_neg",
    "service_name",
    "service_category",
    "service_subcategory",
    "sku_meter",
    "resource_type",
)


INTEGRAL_UNITS = ("Requests", "ReadRequestUnits", "WriteRequestUnits")


@dataclass
class SkuTable:
    """Columns of the SKU table; row ``i`` is SKU index ``i``."""

    rows: list[dict] = field(default_factory=list)
    strings: dict[str, pa.Array] = field(default_factory=dict)
    product_map: pa.Array | None = None
    product_json: pa.Array | None = None
    price_details: pa.Array | None = None  # FOCUS SkuPriceDetails JSON (nullable)
    rate: np.ndarray = field(default_factory=lambda: np.zeros(0))
    behaviour: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    normalization: np.ndarray = field(default_factory=lambda: np.zeros(0))
    product_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    integral: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # usage counted in whole units

    def add(self, **row: object) -> int:
        self.rows.append(row)
        return len(self.rows) - 1

    def finish(self) -> None:
        rows = self.rows
        for name in SKU_STRING_FIELDS:
            self.strings[name] = pa.array([str(r.get(name, "")) for r in rows], pa.string())
        self.product_map = pa.array([r.get("product", []) for r in rows], MAP_STR)
        self.product_json = pa.array(
            [json.dumps(dict(r.get("product", [])), separators=(",", ":")) for r in rows], pa.string()
        )
        self.price_details = pa.array([r.get("price_details") for r in rows], pa.string())
        self.rate = np.array([float(r.get("rate", 0.0)) for r in rows])
        self.behaviour = np.array([int(r.get("behaviour", -1)) for r in rows], np.int8)
        self.normalization = np.array([float(r.get("normalization", np.nan)) for r in rows])
        self.integral = np.array([r.get("unit") in INTEGRAL_UNITS for r in rows])
        codes = list(cat.SERVICES)
        self.product_index = np.array([codes.index(str(r["product_code"])) for r in rows], np.int16)

    def __len__(self) -> int:
        return len(self.rows)


def _sku_code(*parts: object) -> str:
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
    n = int(hex_digest(*parts, length=24), 16)
    out = []
    for _ in range(16):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


def _usage_type(meter_ut: str, variant: str, region: cat.Region | None, service: cat.Service) -> str:
    ut = meter_ut.replace("{v}", variant)
    if region is None or (region.code == "us-east-1" and service.legacy_prefix):
        return ut
    return f"{region.prefix}-{ut}"


def _usage_description(
    kind: cat.Kind, meter: cat.Meter, variant: cat.Variant, rate: float, region_name: str
) -> str:
    r = fmt_rate(rate)
    vname = variant.name.split("|")[0]
    if kind.key == "ec2_instance":
        return f"${r} per On Demand Linux {vname} Instance Hour"
    if kind.key == "rds_instance" and meter.behaviour == cat.HOURS:
        engine = dict(variant.attrs).get("database_engine", "")
        return f"${r} per RDS {vname} Single-AZ instance hour (or partial hour) running {engine}"
    vname = variant.name if "{v}" in meter.usage_type else ""
    where = f" - {region_name}" if region_name else ""
    return f"${r} per {meter.unit} for {meter.usage_type.replace('{v}', vname).strip('-')}{where}"


def add_usage_skus(table: SkuTable, regions: tuple[str, ...], seed: int) -> np.ndarray:
    """Add one SKU per (kind, variant, region, meter); return the first-meter SKU index per
    (kind, variant, region slot), region slot ``len(regions)`` being the global pseudo region."""
    n_var = max(len(k.variants) for k in cat.KINDS)
    base = np.full((len(cat.KINDS), n_var, len(regions) + 1), -1, np.int32)
    for ki, kind in enumerate(cat.KINDS):
        service = cat.SERVICES[kind.service]
        slots = list(enumerate(regions)) if kind.regional else [(len(regions), cat.GLOBAL_REGION)]
        for vi, variant in enumerate(kind.variants):
            vname = variant.name.split("|")[0]
            for slot, rcode in slots:
                region = cat.REGIONS.get(rcode)
                factor = region.price_factor if region else 1.0
                for mi, meter in enumerate(kind.meters):
                    rate = round((meter.rate or variant.price) * factor, 10)
                    ut = _usage_type(meter.usage_type, vname, region, service)
                    op = meter.operation.replace("{op}", variant.operation)
                    sku = _sku_code(seed, "sku", ut, rcode, op)
                    attrs = [("product_name", service.name)]
                    if region:
                        attrs.append(("region", region.code))
                    attrs.append(("servicename", service.name))
                    attrs.extend(variant.attrs)
                    attrs.extend(kind.extra.items())
                    is_dt = kind.key == "data_transfer"
                    region_name = region.name if region else ""
                    location = dict(variant.attrs).get("location", region_name)
                    details = {"Unit": meter.unit, "UsageType": ut}
                    if kind.key in ("ec2_instance", "rds_instance") and meter.behaviour == cat.HOURS:
                        details["InstanceType"] = vname
                    desc = _usage_description(kind, meter, variant, rate, region_name)
                    index = table.add(
                        product_code=kind.service,
                        usage_type=ut,
                        operation=op,
                        unit=meter.unit,
                        product_family=meter.family,
                        region_code=region.code if region else "",
                        region_name=region_name,
                        location=location,
                        location_type="AWS Region" if region else "AWS Edge Location",
                        from_location=region_name if is_dt else "",
                        from_location_type="AWS Region" if is_dt else "",
                        from_region_code=region.code if (is_dt and region) else "",
                        to_location=("External" if mi == 0 else region_name) if is_dt else "",
                        to_location_type=("Other" if mi == 0 else "AWS Region") if is_dt else "",
                        to_region_code=(region.code if (is_dt and mi == 1 and region) else ""),
                        instance_type=vname if meter.behaviour == cat.HOURS and variant.normalization else "",
                        instance_family=variant.family if meter.behaviour == cat.HOURS else "",
                        sku=sku,
                        rate_code=f"{sku}.{cat.ON_DEMAND_OFFER_CODE}.{cat.PRICE_DIMENSION_CODE}",
                        rate_id=str(int(hex_digest(seed, "rate", sku, length=10), 16) % 10**11),
                        rate_str=fmt_rate(rate),
                        desc_usage=desc,
                        desc_ri=(
                            f"USD 0.0 hourly fee per Linux/UNIX (Amazon VPC), {vname} reserved instance applied"
                            if kind.key == "ec2_instance"
                            else f"USD 0.0 hourly fee per {dict(variant.attrs).get('database_engine', '')}, "
                            f"{vname} reserved instance applied"
                        ),
                        desc_sp=desc,
                        desc_neg=f"SavingsPlanNegation used by UsageSku : {sku}",
                        service_name=service.name,
                        service_category=service.category,
                        service_subcategory=service.subcategory,
                        sku_meter=meter.sku_meter,
                        resource_type=kind.resource_type,
                        product=attrs,
                        price_details=json.dumps(details, separators=(",", ":")),
                        rate=rate,
                        behaviour=meter.behaviour,
                        normalization=variant.normalization
                        if meter.behaviour == cat.HOURS and variant.normalization
                        else np.nan,
                    )
                    if mi == 0:
                        base[ki, vi, slot] = index
    return base


def add_charge_sku(
    table: SkuTable,
    product_code: str,
    usage_type: str,
    operation: str,
    unit: str,
    family: str,
    description: str,
    rate_str: str,
    seed: int,
    region: str = "",
    unused_description: str = "",
    **extra: object,
) -> int:
    """A pseudo SKU for a fee, tax, credit or refund row (``unused_description``: FOCUS Unused rows)."""
    service = cat.SERVICES[product_code]
    reg = cat.REGIONS.get(region)
    product = [("product_name", service.name)] + ([("region", region)] if reg else [])
    sku = str(extra.pop("sku", "")) or (
        _sku_code(seed, "charge", product_code, usage_type, operation) if usage_type else ""
    )
    return table.add(
        product_code=product_code,
        usage_type=usage_type,
        operation=operation,
        unit=unit,
        product_family=family,
        region_code=region,
        region_name=reg.name if reg else "",
        location=reg.name if reg else "",
        location_type="AWS Region" if reg else "",
        sku=sku,
        rate_str=rate_str,
        desc_usage=description,
        desc_ri=description,
        desc_sp=description,
        desc_neg=unused_description or description,
        service_name=service.name,
        service_category=service.category,
        service_subcategory=service.subcategory,
        product=product,
        **extra,
    )


# --- resource pool -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """A resource at a fixed pool position with a prescribed shape (commitment and anomaly targets)."""

    kind: str
    variant: str
    region: str  # preferred region


ANCHORS = (
    Anchor("ec2_instance", "m5.xlarge", "us-east-1"),  # 0-2: covered by a Reserved Instance (4 bought)
    Anchor("ec2_instance", "m5.xlarge", "us-east-1"),
    Anchor("ec2_instance", "m5.xlarge", "us-east-1"),
    Anchor("rds_instance", "db.r6g.large|PostgreSQL", "us-east-1"),  # 3: RDS Reserved Instance
    Anchor("ec2_instance", "c6g.xlarge", "us-east-1"),  # 4-5: Compute Savings Plan
    Anchor("ec2_instance", "r5.2xlarge", "eu-west-1"),
    Anchor("ec2_instance", "m6i.2xlarge", "us-west-2"),  # 6: EC2 Instance Savings Plan
    Anchor("lambda_function", "", "us-east-1"),  # 7-9: demand-driven, anomaly candidates
    Anchor("nat_gateway", "default", "us-east-1"),
    Anchor("data_transfer", "default", "eu-west-1"),
)


@dataclass
class Pool:
    """Per-resource attributes of the first ``size`` pool resources (index = pool position)."""

    size: int
    kind: np.ndarray
    variant: np.ndarray
    region: np.ndarray  # region slot; len(regions) = global
    account: np.ndarray
    payer: np.ndarray
    az: np.ndarray  # AZ letter index, -1 when not AZ-scoped
    always_on: np.ndarray
    util: np.ndarray
    base: np.ndarray  # (size, MAX_METERS) daily scale per meter
    growth: np.ndarray  # monthly growth of stored volume
    sku0: np.ndarray
    n_meters: np.ndarray
    product: np.ndarray  # the product the resource really serves (drives demand), tagged or not
    product_code: np.ndarray  # index into SERVICES
    tag_combo: np.ndarray
    # string / map tables, row ``size`` is the "no resource" row
    resource_id: pa.Array
    resource_name: pa.Array
    az_code: np.ndarray  # per resource (plus the "no resource" row): index into az_names
    az_names: pa.Array  # "<region><letter>" names, then ""
    combo_resource_tags: pa.Array  # CUR 2.0 resource_tags (normalised keys), per tag combo
    combo_tags: pa.Array  # CUR 2.0 tags (raw keys), per tag combo
    combo_resource_tags_json: pa.Array
    combo_tags_json: pa.Array
    combo_focus_tags: pa.Array  # FOCUS Tags JSON or null
    combo_legacy: dict[str, pa.Array]  # legacy resourceTags/* column -> values per combo
    combo_tagged: np.ndarray  # combo has at least one user tag
    combo_team: np.ndarray  # team index the combo's tags name (-1 when no team tag)


def _weighted_choice(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights) / np.sum(weights)
    return np.minimum(np.searchsorted(cum, u, side="right"), len(weights) - 1)


@functools.lru_cache(maxsize=4096)
def normalise_tag_key(raw: str) -> str:
    """CUR 2.0 ``resource_tags`` key of a raw tag key (Athena naming rule, ``user_``/``aws_`` prefix)."""
    prefixed = raw if raw.startswith("aws:") else f"user:{raw}"
    return snake_case_cur_header(prefixed)


def region_weights(n: int) -> np.ndarray:
    w = np.array([0.6**i for i in range(n)])
    w[0] *= 1.6
    return w / w.sum()


def build_pool(config: GeneratorConfig, accounts: list[Account], sku_base: np.ndarray, size: int) -> Pool:
    seed, regions = config.seed, config.regions
    idx = np.arange(size, dtype=np.int64)
    n_reg = len(regions)
    usage_accounts = [a for a in accounts if not a.is_payer]
    n_anchor = len(ANCHORS) * config.billing_accounts

    kind = _weighted_choice(hash_uniform(seed, S_KIND, idx), np.array([k.weight for k in cat.KINDS]))
    variant = np.zeros(size, np.int64)
    u_var = hash_uniform(seed, S_VARIANT, idx)
    for ki, k in enumerate(cat.KINDS):
        m = kind == ki
        variant[m] = _weighted_choice(u_var[m], np.array([v.weight for v in k.variants]))
    region = _weighted_choice(hash_uniform(seed, S_REGION, idx), region_weights(n_reg))
    acct_w = np.array([a.weight for a in usage_accounts])
    account_local = _weighted_choice(hash_uniform(seed, S_ACCOUNT, idx), acct_w)

    # Anchors: payer p owns anchors p*len(ANCHORS) .. ; each lands in one of that payer's accounts.
    for j in range(min(n_anchor, size)):
        p, a = divmod(j, len(ANCHORS))
        anchor = ANCHORS[a]
        ki = cat.KIND_INDEX[anchor.kind]
        kind[j] = ki
        names = [v.name for v in cat.KINDS[ki].variants]
        variant[j] = names.index(anchor.variant) if anchor.variant in names else 0
        region[j] = regions.index(anchor.region) if anchor.region in regions else 0
        own = [i for i, acc in enumerate(usage_accounts) if acc.payer == p]
        account_local[j] = own[int(hash64(seed, S_ACCOUNT, j, 7) % np.uint64(len(own)))]
    # Non-anchor resources are spread over all usage accounts (so over every payer).
    account = np.array([usage_accounts[i].index for i in range(len(usage_accounts))])[account_local]
    payer = np.array([a.payer for a in accounts])[account]

    regional = np.array([k.regional for k in cat.KINDS])[kind]
    region = np.where(regional, region, n_reg)
    az_scoped = np.array([k.az_scoped for k in cat.KINDS])[kind]
    n_az = np.array([len(cat.REGIONS[r].azs) for r in regions] + [1])[region]
    az = np.where(az_scoped, (hash64(seed, S_AZ, idx) % n_az.astype(np.uint64)).astype(np.int64), -1)
    always_share = np.array([k.always_on_share for k in cat.KINDS])[kind]
    always_on = hash_uniform(seed, S_ALWAYS, idx) < always_share
    always_on[:n_anchor] = True
    util = 0.35 + 0.55 * hash_uniform(seed, S_UTIL, idx)

    n_meters = np.array([len(k.meters) for k in cat.KINDS])[kind]
    sku0 = sku_base[kind, variant, region]
    env_scale = np.array([ENV_SCALE[a.environment] for a in accounts])[account]
    base = np.zeros((size, cat.MAX_METERS))
    for mi in range(cat.MAX_METERS):
        median = np.array([k.meters[mi].median if mi < len(k.meters) else 0.0 for k in cat.KINDS])[kind]
        sigma = np.array([k.meters[mi].sigma if mi < len(k.meters) else 0.0 for k in cat.KINDS])[kind]
        beh = np.array([k.meters[mi].behaviour if mi < len(k.meters) else -1 for k in cat.KINDS])[kind]
        z = np.clip(hash_normal(seed, S_BASE, idx, mi), -3.0, 3.0)
        if mi > 0:  # secondary meters follow the primary one loosely
            z = 0.7 * np.clip(hash_normal(seed, S_BASE, idx, 0), -3, 3) + 0.7 * z
        scale = median * np.exp(sigma * z)
        scale = np.where(beh == cat.DEMAND, scale * np.maximum(env_scale, 0.1), scale)
        base[:, mi] = np.where(beh == cat.HOURS, 24.0, scale)
    # Anomaly anchors get a solid demand so that injected effects dominate their cost.
    for j in range(min(n_anchor, size)):
        k = cat.KINDS[kind[j]]
        if k.key in cat.ANOMALY_KINDS:
            for mi, meter in enumerate(k.meters):
                if meter.behaviour == cat.DEMAND:
                    base[j, mi] = max(base[j, mi], 2.0 * meter.median)
    growth = 0.06 * hash_uniform(seed, S_GROWTH, idx)

    # --- ownership and tags ---
    team_names = list(cat.TEAMS)
    owner_team = np.array([team_names.index(a.team) for a in accounts])[account]
    other_team = (hash64(seed, S_TEAM, idx, 1) % np.uint64(len(team_names))).astype(np.int64)
    team = np.where(hash_uniform(seed, S_TEAM, idx) < 0.8, owner_team, other_team)
    prod_names = list(cat.PRODUCTS)
    team_products = [np.array([prod_names.index(p) for p in cat.TEAM_PRODUCTS[t]]) for t in team_names]
    u_prod = hash_uniform(seed, S_PRODUCT, idx)
    product = np.zeros(size, np.int64)
    for ti, choices in enumerate(team_products):
        m = team == ti
        product[m] = choices[np.minimum((u_prod[m] * len(choices)).astype(np.int64), len(choices) - 1)]

    tagged = hash_uniform(seed, S_TAGGED, idx) >= config.untagged_share
    env_of_acct = np.array([["prod", "staging", "dev"].index(a.environment) for a in accounts])[account]
    u_env = hash_uniform(seed, S_ENV, idx)
    env_value = np.zeros(size, np.int64)  # index into the account environment's value list
    for ei, env in enumerate(("prod", "staging", "dev")):
        m = env_of_acct == ei
        env_value[m] = _weighted_choice(u_env[m], np.array([w for _, w in cat.ENV_VALUES[env]]))
    k1, k2, k3, k4, k5 = (hash_uniform(seed, S_KEYS, idx, i) for i in range(5))
    team_key = (k1 < 0.15).astype(np.int64)  # 0 "team", 1 "Team"
    env_key = np.where(k2 < 0.6, 0, np.where(k2 < 0.85, 1, 2))  # env, Environment, environment
    has_product = k3 < 0.9
    has_cc = k4 < 0.85
    has_env = k5 < 0.95
    creator_kinds = np.isin(
        kind,
        [
            cat.KIND_INDEX[k]
            for k in (
                "ec2_instance",
                "ebs_volume",
                "rds_instance",
                "lambda_function",
                "eks_cluster",
                "s3_bucket",
            )
        ],
    )
    created = np.where(
        creator_kinds & (hash_uniform(seed, S_CREATED, idx) < 0.5),
        1 + (hash64(seed, S_CREATED, idx, 1) % np.uint64(len(cat.CREATED_BY) - 1)).astype(np.int64),
        0,
    )
    # One integer per distinct tag set.
    code = (
        np.where(
            tagged,
            1
            + team
            + 8
            * (
                team_key
                + 2
                * (
                    product
                    + 4
                    * (
                        has_product
                        + 2 * (env_of_acct + 3 * (env_value + 3 * (env_key + 3 * (has_env + 2 * has_cc))))
                    )
                )
            ),
            0,
        )
        * 8
        + created
    )
    _, first, tag_combo = np.unique(code, return_index=True, return_inverse=True)
    combos = _tag_combos(
        first,
        tagged,
        team,
        team_key,
        product,
        has_product,
        env_of_acct,
        env_value,
        env_key,
        has_env,
        has_cc,
        created,
    )

    # --- identifiers ---
    acct_ids = [a.account_id for a in accounts]
    rid, rname = _resource_strings(seed, idx, kind, region, account, product, team, regions, acct_ids)
    az_names = [f"{r}{letter}" for r in regions for letter in cat.REGIONS[r].azs]
    az_first = np.cumsum([0] + [len(cat.REGIONS[r].azs) for r in regions])
    az_code = np.where(
        az >= 0, az_first[np.minimum(region, len(regions) - 1)] + np.maximum(az, 0), len(az_names)
    )
    prod_code = np.array([list(cat.SERVICES).index(k.service) for k in cat.KINDS])[kind]
    return Pool(
        size=size,
        kind=kind,
        variant=variant,
        region=region,
        account=account,
        payer=payer,
        az=az,
        always_on=always_on,
        util=util,
        base=base,
        growth=growth,
        sku0=sku0.astype(np.int64),
        n_meters=n_meters,
        product=product,
        product_code=prod_code,
        tag_combo=tag_combo,
        resource_id=pa.array(rid + [""], pa.string()),
        resource_name=pa.array(rname + [""], pa.string()),
        az_code=np.append(az_code, len(az_names)),
        az_names=pa.array(az_names + [""], pa.string()),
        **combos,
    )


def _tag_combos(
    first: np.ndarray,
    tagged: np.ndarray,
    team: np.ndarray,
    team_key: np.ndarray,
    product: np.ndarray,
    has_product: np.ndarray,
    env_of_acct: np.ndarray,
    env_value: np.ndarray,
    env_key: np.ndarray,
    has_env: np.ndarray,
    has_cc: np.ndarray,
    created: np.ndarray,
) -> dict:
    """Map, JSON and legacy-column renderings of every distinct tag set (plus an empty last row)."""
    raw_sets: list[list[tuple[str, str]]] = []
    teams: list[int] = []
    for i in first.tolist():
        tags: list[tuple[str, str]] = []
        if created[i]:
            tags.append(("aws:createdBy", cat.CREATED_BY[created[i]]))
        team_index = -1
        if tagged[i]:
            t = cat.TEAMS[team[i]]
            team_index = int(team[i])
            tags.append((("team", "Team")[team_key[i]], t))
            if has_product[i]:
                tags.append(("product", cat.PRODUCTS[product[i]]))
            if has_cc[i]:
                tags.append(("cost_center", cat.COST_CENTERS[t]))
            if has_env[i]:
                env = ("prod", "staging", "dev")[env_of_acct[i]]
                tags.append(
                    (("env", "Environment", "environment")[env_key[i]], cat.ENV_VALUES[env][env_value[i]][0])
                )
        raw_sets.append(sorted(tags))
        teams.append(team_index)
    raw_sets.append([])
    teams.append(-1)
    norm_sets = [sorted((normalise_tag_key(k), v) for k, v in tags) for tags in raw_sets]
    legacy: dict[str, pa.Array] = {}
    for column, key in cat.LEGACY_TAG_COLUMNS:
        legacy[column] = pa.array([dict(tags).get(key, "") for tags in raw_sets], pa.string())
    user_tagged = np.array([any(not k.startswith("aws:") for k, _ in tags) for tags in raw_sets])
    return {
        "combo_resource_tags": pa.array(norm_sets, MAP_STR),
        "combo_tags": pa.array(raw_sets, MAP_STR),
        "combo_resource_tags_json": pa.array([json.dumps(dict(t), separators=(",", ":")) for t in norm_sets]),
        "combo_tags_json": pa.array([json.dumps(dict(t), separators=(",", ":")) for t in raw_sets]),
        "combo_focus_tags": pa.array(
            [json.dumps(dict(t), separators=(",", ":")) if t else None for t in raw_sets], pa.string()
        ),
        "combo_legacy": legacy,
        "combo_tagged": user_tagged,
        "combo_team": np.array(teams),
    }


_WORDS = {
    "lambda_function": ("handler", "worker", "resize", "notify", "ingest", "sync", "export", "auth"),
    "dynamodb_table": ("orders", "sessions", "events", "customers", "carts", "inventory", "audit", "tokens"),
    "s3_bucket": ("assets", "logs", "backups", "exports", "uploads", "artifacts", "datalake", "static"),
    "sqs_queue": ("jobs", "events", "emails", "webhooks", "retries", "ingest"),
    "rds_instance": ("main", "reporting", "ledger", "catalog", "users"),
    "eks_cluster": ("apps", "batch", "ml", "shared"),
    "load_balancer": ("web", "api", "internal", "public"),
    "cloudwatch_logs": ("api", "worker", "ingest", "auth", "cron"),
    "ec2_instance": ("web", "api", "worker", "batch", "cache", "search", "etl", "bastion"),
}


def _resource_strings(
    seed: int,
    idx: np.ndarray,
    kind: np.ndarray,
    region: np.ndarray,
    account: np.ndarray,
    product: np.ndarray,
    team: np.ndarray,
    regions: tuple[str, ...],
    acct_ids: list[str],
) -> tuple[list[str], list[str]]:
    """Resource ids (ids or ARNs, by kind) and display names."""
    h = hash64(seed, S_RID, idx)
    h2 = hash64(seed, S_RID, idx, 1)
    region_codes = [*regions, ""]
    kinds = [k.key for k in cat.KINDS]
    rid: list[str] = []
    names: list[str] = []
    for i, (k, r, a, p, t, x, y) in enumerate(
        zip(
            kind.tolist(),
            region.tolist(),
            account.tolist(),
            product.tolist(),
            team.tolist(),
            h.tolist(),
            h2.tolist(),
            strict=True,
        )
    ):
        key = kinds[k]
        reg, acct = region_codes[r], acct_ids[a]
        hx = f"{x:016x}"
        words = _WORDS.get(key, ("svc",))
        base = cat.PRODUCTS[p] if y % 3 else cat.TEAMS[t]
        name = f"{base}-{words[y % len(words)]}-{i}"
        if key in ("ec2_instance", "data_transfer"):
            rid.append(f"i-0{hx[:16]}")
        elif key == "ebs_volume":
            rid.append(f"vol-0{hx[:16]}")
        elif key == "ebs_snapshot":
            rid.append(f"arn:aws:ec2:{reg}:{acct}:snapshot/snap-0{hx}")
        elif key == "nat_gateway":
            rid.append(f"arn:aws:ec2:{reg}:{acct}:natgateway/nat-0{hx}")
        elif key == "rds_instance":
            rid.append(f"arn:aws:rds:{reg}:{acct}:db:{name}")
        elif key == "s3_bucket":
            name = f"acme-{name}-{hx[:8]}"
            rid.append(name)
        elif key == "lambda_function":
            rid.append(f"arn:aws:lambda:{reg}:{acct}:function:{name}")
        elif key == "dynamodb_table":
            rid.append(f"arn:aws:dynamodb:{reg}:{acct}:table/{name}")
        elif key == "cloudfront_distribution":
            rid.append(f"arn:aws:cloudfront::{acct}:distribution/E{hx[:13].upper()}")
        elif key == "eks_cluster":
            rid.append(f"arn:aws:eks:{reg}:{acct}:cluster/{name}")
        elif key == "cloudwatch_logs":
            rid.append(f"arn:aws:logs:{reg}:{acct}:log-group:/aws/lambda/{name}")
        elif key == "vpc_endpoint":
            rid.append(f"vpce-0{hx[:16]}")
        elif key == "public_ipv4":
            rid.append(f"eipalloc-0{hx[:16]}")
        elif key == "sqs_queue":
            rid.append(f"arn:aws:sqs:{reg}:{acct}:{name}")
        elif key == "load_balancer":
            rid.append(f"arn:aws:elasticloadbalancing:{reg}:{acct}:loadbalancer/app/{name}/{hx}")
        else:  # pragma: no cover - every kind is listed above
            rid.append(f"{key}-{hx}")
        names.append(name)
    return rid, names


# --- commitments ---------------------------------------------------------------------------------------


@dataclass
class Commitment:
    index: int
    kind: str  # "RI" or "SP"
    payer: int  # owning (payer) account index
    arn: str
    name: str
    subscription_id: str
    start: date
    end: date
    years: int
    option: str  # No Upfront / Partial Upfront / All Upfront
    covered: list[int]  # pool indices it covers
    utilisation_target: float = 1.0
    # Reserved Instances
    count: int = 0
    sku: int = -1  # the instance SKU reserved
    offering_class: str = "standard"
    rate_code: str = ""
    normalization: float = 0.0
    upfront_hourly: float = 0.0  # per instance-hour (RI) or per commitment-hour (SP)
    recurring_hourly: float = 0.0
    # Savings Plans
    offering_type: str = ""
    sp_region: str = ""
    sp_family: str = ""
    discount: float = 0.0  # SP rate = On-Demand rate x (1 - discount)
    hourly_commitment: float = 0.0
    # pseudo SKUs of its fee rows
    fee_sku: int = -1
    upfront_sku: int = -1

    def active(self, period: Period) -> bool:
        return self.start <= period.start < self.end

    def purchased_in(self, period: Period) -> bool:
        return self.start == period.start

    @property
    def upfront_total(self) -> int:
        """Upfront payment in 1e-10 dollar units (cents precision)."""
        hours = 8760 * self.years * (self.count if self.kind == "RI" else 1)
        return round(self.upfront_hourly * hours * 100) * (UNIT // 100)

    def day_units(self) -> tuple[int, int]:
        """(amortised upfront, recurring) per covered instance-day (RI) or per day (SP), in units."""
        return round(24 * self.upfront_hourly * UNIT), round(24 * self.recurring_hourly * UNIT)


def build_commitments(
    config: GeneratorConfig,
    periods: list[Period],
    accounts: list[Account],
    pool: Pool,
    skus: SkuTable,
    core: int,
) -> list[Commitment]:
    """Reserved Instances and Savings Plans, each owned by a payer and covering core resources."""
    seed, first = config.seed, periods[0].start
    rng = generator(seed, 202)
    result: list[Commitment] = []
    n_anchor = len(ANCHORS)
    covered: set[int] = set()

    def payer_id(p: int) -> str:
        return accounts[p].account_id

    def add_ri(p: int, members: list[int], count: int, years: int, option: str, start: date) -> None:
        j = members[0]
        sku = int(pool.sku0[j])
        row = skus.rows[sku]
        od = float(row["rate"])
        eff = od * (1 - cat.RI_DISCOUNT[(years, option)])
        up = round(eff * cat.UPFRONT_SHARE[option], 10)
        region = row["region_code"]
        is_rds = row["product_code"] == "AmazonRDS"
        uid = uuid_like(seed, "ri", len(result))
        arn = (
            f"arn:aws:rds:{region}:{payer_id(p)}:ri:ri-{uid[:18]}"
            if is_rds
            else f"arn:aws:ec2:{region}:{payer_id(p)}:reserved-instances/{uid}"
        )
        itype = row["instance_type"]
        result.append(
            Commitment(
                index=len(result),
                kind="RI",
                payer=p,
                arn=arn,
                name=f"{itype} {'RDS' if is_rds else 'Linux'} {region} x{count} ({years}yr {option})",
                subscription_id=str(
                    1_000_000_000 + int(hex_digest(seed, "sub", arn, length=8), 16) % 8_999_999_999
                ),
                start=start,
                end=add_months(start, 12 * years),
                years=years,
                option=option,
                covered=members,
                count=count,
                sku=sku,
                offering_class="standard" if rng.random() < 0.7 else "convertible",
                rate_code=f"{row['sku']}.{cat.RI_OFFER_CODE[(years, option)]}.{cat.PRICE_DIMENSION_CODE}",
                normalization=float(np.nan_to_num(row["normalization"])),
                upfront_hourly=up,
                recurring_hourly=round(eff - up, 10),
            )
        )
        covered.update(members)

    def add_sp(
        p: int,
        members: list[int],
        offering: str,
        years: int,
        option: str,
        start: date,
        util: float,
        region: str = "",
        family: str = "",
    ) -> None:
        disc = cat.SP_DISCOUNT[offering]
        hourly = sum(round(float(skus.rows[int(pool.sku0[j])]["rate"]) * (1 - disc), 10) for j in members)
        commit = float(np.ceil(hourly / util * 1000) / 1000)
        up = round(commit * cat.UPFRONT_SHARE[option], 10)
        uid = uuid_like(seed, "sp", len(result))
        label = "Compute" if offering == "ComputeSavingsPlans" else f"EC2 Instance ({family}, {region})"
        result.append(
            Commitment(
                index=len(result),
                kind="SP",
                payer=p,
                arn=f"arn:aws:savingsplans::{payer_id(p)}:savingsplan/{uid}",
                name=f"{label} Savings Plan {years}yr {option} ${commit:.3f}/h",
                subscription_id="",
                start=start,
                end=add_months(start, 12 * years),
                years=years,
                option=option,
                covered=members,
                utilisation_target=util,
                offering_type=offering,
                sp_region=region,
                sp_family=family,
                discount=disc,
                hourly_commitment=commit,
                upfront_hourly=up,
                recurring_hourly=round(commit - up, 10),
            )
        )
        covered.update(members)

    later = periods[min(1, len(periods) - 1)].start
    for p in range(config.billing_accounts):
        a0 = p * n_anchor
        add_ri(p, [a0, a0 + 1, a0 + 2], 4, 1, "Partial Upfront", add_months(first, -3))  # 75 % used
        add_ri(p, [a0 + 3], 1, 1, "All Upfront", first)  # bought in the first period: upfront Fee row
        region6 = skus.rows[int(pool.sku0[a0 + 6])]["region_code"]
        family6 = skus.rows[int(pool.sku0[a0 + 6])]["instance_type"].split(".")[0]
        sp1_members = [a0 + 4, a0 + 5]
        # More coverage from the core when the bill is large: extra RIs and Compute SP members.
        extra_sp_limit = config.rows // 1_000
        groups: dict[tuple[int, int, int], list[int]] = {}
        draws = hash_uniform(seed, S_COVER, np.arange(core))
        for j in range(config.billing_accounts * n_anchor, core):
            if (
                pool.payer[j] != p
                or not pool.always_on[j]
                or cat.KINDS[pool.kind[j]].key not in ("ec2_instance", "rds_instance")
            ):
                continue
            if draws[j] < 0.35:
                groups.setdefault((int(pool.kind[j]), int(pool.variant[j]), int(pool.region[j])), []).append(
                    j
                )
            elif (
                draws[j] < 0.6
                and cat.KINDS[pool.kind[j]].key == "ec2_instance"
                and len(sp1_members) - 2 < extra_sp_limit
            ):
                sp1_members.append(j)
        for _, members in sorted(groups.items())[: extra_ri_limit(config)]:
            m = len(members)
            extra = 0 if rng.random() < 0.6 else int(rng.integers(1, max(1, m // 2) + 1))
            years = 1 if rng.random() < 0.7 else 3
            option = str(rng.choice(["No Upfront", "Partial Upfront", "All Upfront"]))
            months_ago = int(rng.integers(1, 11 if years == 1 else 30))
            add_ri(p, members, m + extra, years, option, add_months(first, -months_ago))
        add_sp(p, sp1_members, "ComputeSavingsPlans", 1, "No Upfront", add_months(first, -4), 0.95)
        add_sp(p, [a0 + 6], "EC2InstanceSavingsPlans", 3, "Partial Upfront", later, 0.70, region6, family6)

    # Pseudo SKUs of the fee rows.
    for c in result:
        if c.kind == "RI":
            row = skus.rows[c.sku]
            prefix = row["usage_type"].split("BoxUsage:")[0].split("InstanceUsage:")[0]
            itype = row["instance_type"]
            ut = f"{prefix}HeavyUsage:{itype}"
            what = (
                "Linux/UNIX (Amazon VPC)"
                if row["product_code"] == "AmazonEC2"
                else dict(row["product"]).get("database_engine", "")
            )
            c.fee_sku = add_charge_sku(
                skus,
                row["product_code"],
                ut,
                row["operation"],
                "Hrs",
                row["product_family"],
                f"USD {fmt_rate(c.recurring_hourly)} hourly fee per {what}, {itype} instance",
                fmt_rate(c.recurring_hourly),
                seed,
                row["region_code"],
                sku=row["sku"],
                rate_code=c.rate_code,
                instance_type=itype,
                instance_family=row["instance_family"],
                resource_type=row["resource_type"],
                unused_description=f"Unused reservation hours of {itype} ({c.option})",
            )
            c.upfront_sku = add_charge_sku(
                skus,
                row["product_code"],
                ut,
                row["operation"],
                "Quantity",
                row["product_family"],
                f"Sign up charge for subscription: {c.subscription_id}, "
                f"planId: {hex_digest(seed, c.arn, length=6)}",
                fmt_rate(c.upfront_hourly * 8760 * c.years),
                seed,
                row["region_code"],
                sku=row["sku"],
                rate_code=c.rate_code,
                instance_type=itype,
                instance_family=row["instance_family"],
                resource_type=row["resource_type"],
            )
        else:
            short = "ComputeSP" if c.offering_type == "ComputeSavingsPlans" else "EC2InstanceSP"
            ut = f"{short}:{c.years}yr{c.option.replace(' ', '')}"
            c.fee_sku = add_charge_sku(
                skus,
                "ComputeSavingsPlans",
                ut,
                "",
                "Hrs",
                "Savings Plan",
                f"{c.years} year {c.option} {c.offering_type} recurring fee",
                fmt_rate(c.recurring_hourly),
                seed,
                c.sp_region,
                resource_type="Savings Plan",
                unused_description=f"Unused commitment of {c.years} year {c.option} {c.offering_type}",
            )
            c.upfront_sku = add_charge_sku(
                skus,
                "ComputeSavingsPlans",
                ut,
                "",
                "Quantity",
                "Savings Plan",
                f"{c.years} year {c.option} {c.offering_type} upfront fee",
                fmt_rate(c.upfront_hourly * 8760 * c.years),
                seed,
                c.sp_region,
                resource_type="Savings Plan",
            )
    return result


# --- anomalies ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anomaly:
    index: int
    kind: str  # spike, level_shift, runaway
    resource: int  # pool index
    start_day: int  # window day index, inclusive
    end_day: int  # inclusive
    magnitude: float  # spike / shift factor, or daily growth rate of a runaway

    def factor(self, day: np.ndarray) -> np.ndarray:
        """Multiplier of the resource's demand-driven usage on window days ``day``."""
        inside = (day >= self.start_day) & (day <= self.end_day)
        if self.kind == "runaway":
            f = (1.0 + self.magnitude) ** (day - self.start_day + 1).astype(np.float64)
        else:
            f = np.full(day.shape, self.magnitude)
        return np.where(inside, f, 1.0)


def build_anomalies(
    config: GeneratorConfig, periods: list[Period], pool: Pool, skus: SkuTable, core: int, covered: set[int]
) -> list[Anomaly]:
    total = config.anomalies_per_period * len(periods)
    if total == 0:
        return []
    rng = generator(config.seed, 303)
    window = periods[-1].day_offset + periods[-1].days
    kinds_ok = [cat.KIND_INDEX[k] for k in cat.ANOMALY_KINDS]
    candidates = [j for j in range(core) if pool.kind[j] in kinds_ok and j not in covered]
    if not candidates:
        return []
    value = []
    for j in candidates:
        k = cat.KINDS[pool.kind[j]]
        value.append(
            sum(
                pool.base[j, m] * skus.rate[pool.sku0[j] + m]
                for m in range(len(k.meters))
                if k.meters[m].behaviour == cat.DEMAND
            )
        )
    order = np.argsort(-np.array(value), kind="stable")
    top = [candidates[i] for i in order[: max(4, len(order) // 2)]]
    chosen = [top[i] for i in rng.permutation(len(top))[: min(total, len(top))]]
    kinds = (["spike", "level_shift", "runaway"] * total)[: len(chosen)]
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    anomalies = []
    for i, (res, kind) in enumerate(zip(chosen, kinds, strict=True)):
        if kind == "spike":
            start = int(rng.integers(3, max(4, window - 3)))
            end = min(window - 1, start + int(rng.integers(0, 3)))
            magnitude = float(np.round(rng.uniform(3.0, 10.0), 2))
        elif kind == "level_shift":
            start = int(rng.integers(min(7, window - 2), max(min(7, window - 2) + 1, window - 4)))
            end = window - 1
            magnitude = float(np.round(rng.uniform(1.5, 3.0), 2))
        else:
            p = periods[int(rng.integers(0, len(periods)))]
            start = p.day_offset + p.days - int(rng.integers(4, 11))
            end = p.day_offset + p.days - 1
            magnitude = float(np.round(rng.uniform(0.15, 0.35), 3))
        anomalies.append(Anomaly(i, kind, res, start, end, magnitude))
    return anomalies


# --- the world ---------------------------------------------------------------------------------------


@dataclass
class World:
    config: GeneratorConfig
    periods: list[Period]
    accounts: list[Account]
    payer_profiles: dict[int, PayerProfile]
    skus: SkuTable
    sku_base: np.ndarray
    pool: Pool
    core: int  # resources [0, core) are present in every period and format
    commitments: list[Commitment]
    anomalies: list[Anomaly]
    demand: np.ndarray  # (len(PRODUCTS), window days) multiplicative business demand
    weekday: np.ndarray  # window day -> 0 (Monday) .. 6
    tax_skus: dict[str, int]
    support_sku: int
    credit_sku: int
    refund_sku: int
    anomaly_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # pool index -> anomaly

    @property
    def window_days(self) -> int:
        return self.periods[-1].day_offset + self.periods[-1].days

    def window_dates(self) -> list[date]:
        first = self.periods[0].start
        return [date.fromordinal(first.toordinal() + d) for d in range(self.window_days)]


def extra_ri_limit(config: GeneratorConfig) -> int:
    """How many Reserved Instances each payer buys beyond the anchor ones."""
    return min(60, config.rows // 2_000)


def fixed_rows_upper_bound(config: GeneratorConfig) -> int:
    """A generous bound of the non-usage line items of one period (taxes, fees, credits, commitments)."""
    n_accounts = config.billing_accounts + config.usage_accounts
    n_ri = (2 + extra_ri_limit(config)) * config.billing_accounts
    n_sp = 2 * config.billing_accounts
    return len(cat.SERVICES) * n_accounts + 3 * config.billing_accounts + 1 + 3 * n_ri + n_sp * (2 * 31 + 1)


def core_size(config: GeneratorConfig, n_meters: np.ndarray) -> int:
    """Resources certainly present in every period and format: the longest pool prefix whose rows fit even
    with 31 days, every resource Savings-Plan covered (one extra row a day) and the most fixed rows."""
    worst = 31 * np.cumsum(n_meters + 1) + fixed_rows_upper_bound(config)
    return int(np.searchsorted(worst, config.rows, side="right"))


def build_world(config: GeneratorConfig) -> World:
    periods = build_periods(config)
    accounts, profiles = build_accounts(config)
    skus = SkuTable()
    sku_base = add_usage_skus(skus, config.regions, config.seed)
    pool = build_pool(config, accounts, sku_base, config.rows // 28 + 512)
    core = core_size(config, pool.n_meters)
    needed = len(ANCHORS) * config.billing_accounts
    if core < needed:
        minimum = fixed_rows_upper_bound(config) + 31 * int(np.sum(pool.n_meters[:needed] + 1))
        raise ValueError(f"rows={config.rows} is too small for this configuration; use at least {minimum}")
    commitments = build_commitments(config, periods, accounts, pool, skus, core)
    covered = {j for c in commitments for j in c.covered}
    tax_skus = {
        code: add_charge_sku(skus, code, "", "", "", "", f"Tax for product code {code}", "", config.seed)
        for code in cat.SERVICES
    }
    support_sku = add_charge_sku(
        skus,
        "AWSSupportBusiness",
        "Dollar",
        "",
        "Dollar",
        "AWS Support",
        "AWS Support (Business)",
        "1.0",
        config.seed,
    )
    credit_sku = add_charge_sku(skus, "AmazonEC2", "", "", "", "", "AWS Promotional Credit", "", config.seed)
    refund_sku = add_charge_sku(
        skus, "AmazonEC2", "", "", "", "", "Refund: adjustment of previously billed usage", "", config.seed
    )
    skus.finish()
    anomalies = build_anomalies(config, periods, pool, skus, core, covered)
    anomaly_of = np.full(pool.size, -1, np.int64)
    for a in anomalies:
        anomaly_of[a.resource] = a.index
    window = periods[-1].day_offset + periods[-1].days
    rng = generator(config.seed, 404)
    demand = np.zeros((len(cat.PRODUCTS), window))
    for p in range(len(cat.PRODUCTS)):
        x, series = 0.0, []
        for _ in range(window):
            x = 0.85 * x + rng.normal(0.0, 0.035)
            series.append(x)
        demand[p] = np.exp(np.array(series))
    first = periods[0].start
    weekday = np.array([(first.weekday() + d) % 7 for d in range(window)])
    return World(
        config,
        periods,
        accounts,
        profiles,
        skus,
        sku_base,
        pool,
        core,
        commitments,
        anomalies,
        demand,
        weekday,
        tax_skus,
        support_sku,
        credit_sku,
        refund_sku,
        anomaly_of,
    )
