"""Synthetic cloud bills: AWS CUR 2.0, legacy CUR and FOCUS 1.2, all from one synthetic organisation.

Usage::

    from orchestration.generator import GeneratorConfig, generate

    summary = generate(GeneratorConfig(out=Path("out"), fmt="cur2", months=3, rows=100_000, seed=42,
                                       start="2026-01", file_format="parquet"),
                       progress=lambda done_rows, total_rows, message: ...)

``rows`` line items are written for every billing period, exactly. Generation streams: numpy builds
chunks of ``chunk_rows`` rows, pyarrow writes them while the next chunk is built, and files are split
into numbered chunks of at most ``max_rows_per_file`` rows. The same configuration always produces
byte-identical files (randomness derives from the seed only; no wall-clock time is written).

Output layout (``OUT`` = ``config.out``; ``<name>`` = ``config.export_name``, by default ``cur2``,
``cur-legacy`` and ``focus``)::

    cur2            OUT/<name>/data/BILLING_PERIOD=YYYY-MM/<name>-00001.snappy.parquet   (or .csv.gz)
                    OUT/<name>/metadata/BILLING_PERIOD=YYYY-MM/<name>-Manifest.json
    cur-legacy-csv  OUT/<name>/<yyyymmdd-yyyymmdd>/<assemblyId>/<name>-00001.csv.gz
                    OUT/<name>/<yyyymmdd-yyyymmdd>/<name>-Manifest.json
    focus-1.2       OUT/<name>/data/BILLING_PERIOD=YYYY-MM/<name>-00001.snappy.parquet   (or .csv.gz)
                    OUT/<name>/metadata/BILLING_PERIOD=YYYY-MM/<name>-Manifest.json
    every format    OUT/labels/anomalies.csv, OUT/business/{unit_drivers,sli_daily,invoices}.csv,
                    OUT/reference/accounts.csv, OUT/README.txt

CUR 2.0 (``COST_AND_USAGE_REPORT``, ``INCLUDE_RESOURCES=TRUE``, daily granularity): the 117 columns of
the data dictionary in its order. The optional ``split_line_item_*`` (split cost allocation) and
``capacity_reservation_*`` groups are left out. Numbers are ``double``, the bill and usage dates
``timestamp`` (ms, UTC, no zone), ``product``/``cost_category``/``resource_tags``/``tags`` are
``map<string,string>`` and ``discount`` is ``map<string,double>``. Strings that do not apply are empty
strings; ``*_net_*`` and ``discount_*`` amounts are NULL (no negotiated discount); other RI/SP amounts
are 0 where they do not apply. ``resource_tags`` keys follow AWS's normalisation (``user_team``,
``user_environment``, ``aws_created_by``) while ``tags`` keeps the raw keys (``team``, ``Team``,
``env``, ``Environment``, ``aws:createdBy``). In gzip CSV, maps are JSON objects and timestamps
``2026-01-01T00:00:00.000Z``.

Legacy CUR: gzip CSV with ``category/Name`` headers: every column of the public anonymised sample, in its
order, plus ``lineItem/ResourceId``, the RI/SP attribute columns, ``resourceTags/user:*`` and
``resourceTags/aws:createdBy`` columns and ``costCategory/*`` columns. Each header maps to a CUR 2.0 column
(or ``product`` map key) by AWS's Athena rule, and carries the same values as CUR 2.0. Dates are written
``2026-01-01T00:00:00Z``; RI/SP amounts that do not apply are empty.

FOCUS 1.2: the 57 specification columns in specification order, then AWS's ``x_Discounts``,
``x_Operation`` and ``x_ServiceCode``. Costs, prices and quantities are ``decimal128(38, 10)`` (exact),
datetimes UTC timestamps (ms), ``Tags``/``SkuPriceDetails`` JSON object strings, ids strings, and values
that do not apply NULL. The same synthetic usage is mapped the way the specification's commitment
examples show it: covered usage (Reserved Instance or Savings Plan) is a Usage row with BilledCost 0,
EffectiveCost = its amortised cost and status ``Used`` (the CUR ``SavingsPlanNegation`` rows fold into it);
every commitment fee (RIFee, RI upfront Fee, Savings Plan recurring and upfront fees) is a Purchase row
with EffectiveCost 0, and the unused part of the commitment is an extra Usage row with status ``Unused``.
So per commitment and period, Used + Unused EffectiveCost = the commitment's amortised cost.

The model: payer and linked accounts (12-digit string ids, some with a leading zero), ~16 resource kinds
over 12 services plus Business support, one row per resource, day and meter; weekly seasonality, a
monthly trend and per-product business demand that also drives ``business/unit_drivers.csv``. Reserved
Instances and Savings Plans (some under-utilised, some bought inside the window), taxes per account and
service, credits and an occasional refund. Anomalies (spikes, level shifts, runaway growth) are injected
on demand-driven resources and labelled in ``labels/anomalies.csv`` with their dollar impact. Money is
carried as integers of 1e-10 dollars, so ``business/invoices.csv`` is the exact sum (rounded to cents)
of the billed cost written.
"""

from orchestration.generator.config import GenerationSummary, GeneratorConfig
from orchestration.generator.engine import generate

__all__ = ["GenerationSummary", "GeneratorConfig", "generate"]
