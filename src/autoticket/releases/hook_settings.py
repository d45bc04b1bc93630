"""Settings of the deploy webhooks that become releases (`releases.sources`).

```yaml
releases:
  sources:
    github_deployment:
      secret_env: GITHUB_WEBHOOK_SECRET   # the webhook's secret, by reference
      services: {acme/checkout-web: checkout}
      environments: {production: prod}
    argocd:
      services: {checkout-prod: checkout}
      environments: {checkout: prod}      # destination namespace -> environment
```

A name the `services` map does not list is the service itself (GitHub: the
repository's name without its owner, or the catalog service whose `repo` is
the repository); an environment the map does not list is kept as sent.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ArgoCDSettings", "GithubDeploymentSettings", "ReleaseSources"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Mapping(_Strict):
    services: dict[str, str] = Field(default_factory=dict)
    environments: dict[str, str] = Field(default_factory=dict)

    def environment(self, name: str) -> str:
        return self.environments.get(name, name)


class GithubDeploymentSettings(_Mapping):
    # The environment variable holding the webhook's secret: when set, every
    # delivery must carry a valid X-Hub-Signature-256.
    secret_env: str | None = Field(default=None, min_length=1)


class ArgoCDSettings(_Mapping):
    pass


class ReleaseSources(_Strict):
    github_deployment: GithubDeploymentSettings = Field(default_factory=GithubDeploymentSettings)
    argocd: ArgoCDSettings = Field(default_factory=ArgoCDSettings)
