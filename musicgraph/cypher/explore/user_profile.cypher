// A user's listening profile
// What does $user play, and how do they tag? Top artists by play count with their strongest tag,
// plus the user's own most used tags and number of friends.
:param user => 'hetrec:2';
:param limit => 10;

MATCH (u:User {uid: $user})
OPTIONAL MATCH (u)-[:FRIEND_OF]->(f:User)
WITH u, count(DISTINCT f) AS friends
OPTIONAL MATCH (u)-[ut:USED_TAG]->(t:Tag)
WITH u, friends, t, ut ORDER BY ut.weight DESC
WITH u, friends, [x IN collect(t.name) WHERE x IS NOT NULL][0..5] AS own_tags
MATCH (u)-[l:LISTENED_TO]->(a:Artist)
OPTIONAL MATCH (a)-[at:TAGGED]->(tag:Tag)
WITH u, friends, own_tags, a, l, tag, at ORDER BY at.weight DESC
WITH friends, own_tags, a, l.weight AS plays, head(collect(tag.name)) AS top_tag
RETURN a.uid AS artist, a.name AS name, plays, top_tag, own_tags, friends
ORDER BY plays DESC, artist
LIMIT $limit;
