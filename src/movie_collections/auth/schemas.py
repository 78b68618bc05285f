"""Request and response bodies of registration and login."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

USERNAME_PATTERN = r"^[A-Za-z0-9_.@+-]{3,150}$"

Username = Annotated[
    str,
    Field(
        min_length=3,
        max_length=150,
        pattern=USERNAME_PATTERN,
        description="3-150 letters, digits and _.@+-; unique regardless of case.",
        examples=["maya"],
    ),
]
Password = Annotated[
    str, Field(min_length=8, max_length=1024, examples=["correct horse battery staple"])
]


class Credentials(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "maya", "password": "s3cret-passw0rd"}]}
    )

    username: Username
    password: Password


class TokenPair(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(
        description="Single use: exchange it at `POST /token/refresh/` for a new pair. "
        "Keep it secret; using a spent one logs out every session of its login."
    )
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires.")


class RefreshRequest(BaseModel):
    # Issued tokens are 43 characters; the bound keeps junk from being hashed at length.
    refresh_token: str = Field(min_length=1, max_length=200)


class CurrentUser(BaseModel):
    user_id: uuid.UUID = Field(description="The id of the user the access token belongs to.")
