-- Single sign-on: an account is known to an OpenID Connect provider by the provider's issuer and the
-- subject it gives the person (never by an e-mail address, which a provider may reassign). One
-- identity belongs to one account; an account may have identities at more than one issuer.
create table oidc_identities (
    issuer text not null,
    subject text not null,
    user_id uuid not null references users (id) on delete cascade,
    linked_at timestamptz not null default gameday_now(),
    last_signed_in_at timestamptz,
    primary key (issuer, subject)
);

create index oidc_identities_user on oidc_identities (user_id);
