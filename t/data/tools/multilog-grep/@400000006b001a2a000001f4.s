@400000006b000c1a063e0b9c 19990 Listening on 0.0.0.0:25
@400000006b000c1b0c7c1544 20001 Accepted connection 3/40 from 198.51.100.7 / mail.domain.tld
@400000006b000c1b12ba1eec 20001 Connection from mail.domain.tld [198.51.100.7]
@400000006b000c1c18f82894 20001 dispatching MAIL FROM:<User@Domain.TLD>
@400000006b000c1c1f36323c 20001 (mail) badmailfrom: pass
@400000006b000c1d25743be4 20001 (data_post) spamassassin: pass, Ham, -0.4 < 12, learn=ham
@400000006b000c1d2bb2458c 20001 (queue) logging::logterse: ` 198.51.100.7	mail.domain.tld	mail.domain.tld	<User@Domain.TLD>	<alice@example.com>,<bob@example.com>	queued		<abc.1@domain.tld>	No, score=-0.4 required=5.0
@400000006b000c1d31f04f34 20001 250 Queued!
@400000006b000c1e382e58dc 20001 (post-connection) connection_time: 2.500 s.
@400000006b000c1e02d19884 19990 cleaning up after 20001
@400000006b000c56090fa22c 20002 Accepted connection 0/40 from 203.0.113.50 / Unknown
@400000006b000c560f4dabd4 20002 (connect) dnsbl: fail, NAUGHTY
@400000006b000c56158bb57c 20002 (deny) logging::logterse: ` 203.0.113.50	Unknown				dnsbl	903	Blocked - see http://www.spamcop.net/bl.shtml?203.0.113.50	msg denied before queued
@400000006b000c561bc9bf24 20002 (post-connection) connection_time: 0.300 s.
@400000006b000c572207c8cc 19990 cleaning up after 20002
