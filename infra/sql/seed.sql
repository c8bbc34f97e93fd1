-- The application's schema and its seed data, for sandbox and preview
-- databases: a small, fake shop. No real customer data ever: the names,
-- addresses, phones and cards are invented (the cards are the networks'
-- published test numbers).
--
-- Every column here is classified in infra/data_sync/rules.yaml (kept or
-- masked in the weekly copy of production); a test fails when one is not.

CREATE TABLE customers (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          text NOT NULL UNIQUE,
    name           text NOT NULL,
    phone          text,
    date_of_birth  date,
    national_id    text UNIQUE,
    loyalty_number integer UNIQUE,
    external_ref   uuid,
    marketing_opt_in boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE addresses (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customers (id),
    line1        text NOT NULL,
    city         text NOT NULL,
    postcode     text NOT NULL,
    country      text NOT NULL CHECK (country ~ '^[A-Z]{2}$')
);

CREATE TABLE payment_cards (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id      bigint NOT NULL REFERENCES customers (id),
    card_number      text NOT NULL,
    cardholder_name  text NOT NULL,
    expires_on       date NOT NULL
);

CREATE TABLE orders (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id          bigint NOT NULL REFERENCES customers (id),
    shipping_address_id  bigint REFERENCES addresses (id),
    contact_email        text,
    total_cents          integer NOT NULL CHECK (total_cents >= 0),
    total_eur            numeric GENERATED ALWAYS AS (total_cents / 100.0) STORED,
    status               text NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'refunded')),
    created_at           timestamptz NOT NULL DEFAULT now()
);

-- Support tickets name their reporter by e-mail (a foreign key on a masked
-- column: the masks must keep it joining) and carry free text.
CREATE TABLE support_tickets (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reporter_email  text NOT NULL REFERENCES customers (email),
    subject         text NOT NULL,
    body            text,
    priority        text NOT NULL DEFAULT 'normal',
    created_at      timestamptz NOT NULL DEFAULT now()
);

INSERT INTO customers (email, name, phone, date_of_birth) VALUES
    ('ada@example.com', 'Ada Lovelace', '+44 20 7946 0018', '1815-12-10'),
    ('grace@example.com', 'Grace Hopper', '+1 555 0100', '1906-12-09'),
    ('edsger@example.com', 'Edsger Dijkstra', NULL, NULL);

INSERT INTO addresses (customer_id, line1, city, postcode, country)
SELECT c.id, v.line1, v.city, v.postcode, v.country
  FROM (VALUES
          ('ada@example.com', '1 Example Street', 'London', 'EX1 1AA', 'GB'),
          ('grace@example.com', '2 Sample Avenue', 'Arlington', '00000', 'US')
       ) AS v (email, line1, city, postcode, country)
  JOIN customers c ON c.email = v.email;

INSERT INTO payment_cards (customer_id, card_number, cardholder_name, expires_on)
SELECT c.id, '4242424242424242', c.name, '2030-12-31'
  FROM customers c WHERE c.email = 'ada@example.com';

INSERT INTO orders (customer_id, shipping_address_id, contact_email, total_cents, status)
SELECT c.id, a.id, c.email, v.total_cents, v.status
  FROM (VALUES
          ('ada@example.com', 4200, 'paid'),
          ('ada@example.com', 1999, 'shipped'),
          ('grace@example.com', 12500, 'pending'),
          ('edsger@example.com', 750, 'refunded')) AS v (email, total_cents, status)
  JOIN customers c ON c.email = v.email
  LEFT JOIN addresses a ON a.customer_id = c.id;

INSERT INTO support_tickets (reporter_email, subject, body) VALUES
    ('grace@example.com', 'Order not arrived', 'Hello, this is Grace (+1 555 0100). Where is my order?');
