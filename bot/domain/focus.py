"""Chargeback rows in the FinOps Open Cost and Usage Specification (FOCUS 1.2): one row per team, person and model
for a billing month, so finance tools load AI spend beside cloud spend. Pure: figures in, rows out.

Column set: FOCUS 1.2's mandatory columns (the non-null ones: costs, billing and charge periods, currency, charge
category, provider, publisher, invoice issuer, service) and the nullable ones a chargeback reader uses (sub-account =
team, resource = model, consumed tokens, tags carrying team and person); tokenbot's own figures ride in `x_` columns,
as the specification's extension rule asks. Source: focus.finops.org/focus-specification/v1-2 (column library)."""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.domain.pricing import MICROS_PER_USD

FOCUS_VERSION = "1.2"
COLUMNS = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd",
    "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "EffectiveCost", "InvoiceIssuerName",
    "ListCost", "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "RegionId",
    "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "ServiceSubcategory",
    "SkuId", "SubAccountId", "SubAccountName", "Tags",
    "x_Team", "x_Person", "x_Model", "x_Requests", "x_InputTokens", "x_OutputTokens", "x_UnpricedRequests",
)
# Columns FOCUS requires to hold a value on every row.
REQUIRED = ("BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
            "ChargeCategory", "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost", "EffectiveCost",
            "InvoiceIssuerName", "ListCost", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName")

_PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google", "gemini": "Google",
                   "vertex_ai": "Google", "azure": "Microsoft", "bedrock": "Amazon Web Services",
                   "mistral": "Mistral AI", "cohere": "Cohere", "groq": "Groq", "xai": "xAI", "deepseek": "DeepSeek"}


@dataclass(frozen=True)
class SpendLine:
    """A month's usage of one model by one person on one team's account (person None: nobody in the org file)."""

    team_slug: str | None
    team_name: str | None
    person_email: str | None
    model: str
    provider: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    unpriced_requests: int


def provider_name(provider: str | None) -> str:
    if not provider:
        return "Unknown"
    return _PROVIDER_NAMES.get(provider.lower(), provider)


def _usd(micros: int) -> str:
    return str(Decimal(micros) / MICROS_PER_USD)  # exact: micro-USD are integers


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def focus_rows(lines: Iterable[SpendLine], period_start: datetime, period_end: datetime,
               account_id: str, account_name: str) -> Iterator[dict[str, str]]:
    """FOCUS rows for one billing period (UTC month, [start, end)). Costs are what the ledger holds: the gateway's
    or the provider's figure, or the list price where neither came; so billed, effective, list and contracted cost
    are the same number (tokenbot knows no amortised commitments)."""
    start, end = _iso(period_start), _iso(period_end)
    for line in lines:
        provider = provider_name(line.provider)
        cost = _usd(line.cost_micros)
        tokens = line.input_tokens + line.output_tokens
        team = line.team_slug or "no-team"
        person = line.person_email or "unclaimed"
        yield {
            "BilledCost": cost, "BillingAccountId": account_id, "BillingAccountName": account_name,
            "BillingCurrency": "USD", "BillingPeriodEnd": end, "BillingPeriodStart": start,
            "ChargeCategory": "Usage", "ChargeClass": "", "ChargeFrequency": "Usage-Based",
            "ChargeDescription": f"{line.model} used by {person} for team {team}",
            "ChargePeriodEnd": end, "ChargePeriodStart": start,
            "ConsumedQuantity": str(tokens), "ConsumedUnit": "Tokens", "ContractedCost": cost, "EffectiveCost": cost,
            "InvoiceIssuerName": provider, "ListCost": cost, "PricingCategory": "Standard",
            "PricingQuantity": str(tokens), "PricingUnit": "Tokens", "ProviderName": provider,
            "PublisherName": provider, "RegionId": "", "RegionName": "", "ResourceId": line.model,
            "ResourceName": line.model, "ResourceType": "Model", "ServiceCategory": "AI and Machine Learning",
            "ServiceName": f"{provider} models", "ServiceSubcategory": "Generative AI", "SkuId": line.model,
            "SubAccountId": team, "SubAccountName": line.team_name or "no team",
            "Tags": json.dumps({"team": team, "person": person}, sort_keys=True),
            "x_Team": team, "x_Person": person, "x_Model": line.model, "x_Requests": str(line.requests),
            "x_InputTokens": str(line.input_tokens), "x_OutputTokens": str(line.output_tokens),
            "x_UnpricedRequests": str(line.unpriced_requests),
        }
