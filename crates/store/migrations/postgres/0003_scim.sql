-- SCIM 2.0 provisioning: the resources an HR system or identity provider manages, as it sent
-- them (published attributes only), beside the accounts and assignments derived from them.

CREATE TABLE scim_resources (
    id TEXT PRIMARY KEY,
    -- 'User' or 'Group'.
    resource_type TEXT NOT NULL,
    -- A User's userName, lowercased (userName is unique and not case-exact); NULL for groups.
    user_name_key TEXT UNIQUE,
    document TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX scim_resources_type ON scim_resources (resource_type, created_at);

-- Group membership, kept beside the group's document to answer a User's `groups`.
CREATE TABLE scim_group_members (
    group_id TEXT NOT NULL REFERENCES scim_resources(id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    PRIMARY KEY (group_id, member_id)
);

CREATE INDEX scim_group_members_member ON scim_group_members (member_id);
