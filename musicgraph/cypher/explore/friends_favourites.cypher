// Friends' favourites the user has not heard
// Which artists do the friends of $user play most, that $user has never listened to? Ranked by how
// many friends play them, then by the friends' total play count.
:param user => 'hetrec:2';
:param limit => 15;

MATCH (u:User {uid: $user})-[:FRIEND_OF]-(f:User)
WITH DISTINCT u, f
MATCH (f)-[l:LISTENED_TO]->(a:Artist)
WHERE NOT (u)-[:LISTENED_TO]->(a)
WITH a, count(DISTINCT f) AS friends, sum(l.weight) AS plays, collect(DISTINCT f.uid)[0..5] AS who
RETURN a.uid AS artist, a.name AS name, friends, plays, who AS friends_who_play_it
ORDER BY friends DESC, plays DESC, artist
LIMIT $limit;
