// A user's 3-hop discoveries: user -> artist -> tag -> artist
// Which artists, not yet listened to by $user, share tags with the artists they play? Each path is
// weighted by the log of the play count and the tag weights; the strongest tags are shown.
:param user => 'hetrec:2';
:param limit => 15;

MATCH (u:User {uid: $user})-[l:LISTENED_TO]->(a:Artist)-[t1:TAGGED]->(t:Tag)<-[t2:TAGGED]-(d:Artist)
WHERE d <> a AND NOT (u)-[:LISTENED_TO]->(d)
WITH d, t, sum(log(1 + l.weight) * coalesce(t1.weight, 1) * coalesce(t2.weight, 1)) AS strength,
     collect(DISTINCT a.name) AS via
ORDER BY strength DESC
WITH d, sum(strength) AS score,
     collect(t.name + ' (via ' + reduce(s = head(via), x IN tail(via[0..3]) | s + ', ' + x) + ')') AS reasons
RETURN d.uid AS artist, d.name AS name, round(score, 2) AS score, reasons[0..3] AS because
ORDER BY score DESC, artist
LIMIT $limit;
