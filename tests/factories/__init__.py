"""Builders shared by several test modules, one module per kind of record or tool.

Through the domain services (a fresh org of its own per test):
    quote_to_cash   a ``World`` (sales team, finance, customer, opportunity, product) and its quotes, contracts,
                    payment plans and invoices
    delivery        a ``DeliveryOrg`` (sales, project managers, service staff) and its won deals, projects, tasks
    checks          ``fails(code)``, row counts, outbox counts, fresh copies of rows, sessions waiting on a lock

Through the GraphQL API, as the seeded demo users (``api``):
    api.users       the demo users' emails and global ids
    api.answers     reading GraphQL answers: ``ok``, ``error_code``, ``user_errors``
    api.crm         customers, opportunities, stage moves, comments, calls
    api.quote_to_cash  products, quotes, contracts, signatures, plans, invoices, payments

Tools:
    realtime        a graphql-transport-ws client (``connect``, ``Socket``), apps of a test's own, the feed's end
    waiting         ``eventually(check)``: wait on a condition, never on a guessed sleep; ``quiet_for(seconds)``
                    where a test shows that nothing happens for a while
    servers         a free port, and waiting until a redis-server answers
    names           ``unique(prefix)``
"""
