-- Each library's own terms for delivered copies (JSON domain::library::DeliverySettings); a
-- library without a row uses the node's configuration.
CREATE TABLE delivery_settings (
    library_id TEXT PRIMARY KEY REFERENCES library (library_id),
    settings   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
