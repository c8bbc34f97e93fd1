-- Seed data for sandbox and preview databases: a small, fake shop.
-- No real customer data ever: the names and addresses are invented.

CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customers (id),
    total_cents  integer NOT NULL CHECK (total_cents >= 0),
    status       text NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'refunded')),
    created_at   timestamptz NOT NULL DEFAULT now()
);

INSERT INTO customers (email, name) VALUES
    ('ada@example.com', 'Ada Lovelace'),
    ('grace@example.com', 'Grace Hopper'),
    ('edsger@example.com', 'Edsger Dijkstra');

INSERT INTO orders (customer_id, total_cents, status)
SELECT c.id, v.total_cents, v.status
  FROM (VALUES
          ('ada@example.com', 4200, 'paid'),
          ('ada@example.com', 1999, 'shipped'),
          ('grace@example.com', 12500, 'pending'),
          ('edsger@example.com', 750, 'refunded')) AS v (email, total_cents, status)
  JOIN customers c ON c.email = v.email;
